import Models
import NeuralNet
import Testing

@Suite("Data-parallel training step")
struct DataParallelStepTests {
    static func config(_ kind: ModelKind) -> ModelConfig {
        ModelConfig(kind: kind, latentDim: 3, hiddenUnits: 6, imageHeight: 8, imageWidth: 8)
    }

    /// A seeded model, its optimiser and a batch of n images.
    static func setUp(_ kind: ModelKind, batch n: Int) -> (ConvAutoencoder, Adam, Tensor) {
        let model = ConvAutoencoder(config(kind))
        model.initialize(seed: 5)
        var pixels = Xoshiro256(seed: 6)
        let x = Tensor(zeros: [n, 1, 8, 8])
        for i in 0..<x.count { x.data[i] = pixels.uniform() }
        return (model, Adam(count: model.parameterCount), x)
    }

    static func values(_ model: ConvAutoencoder) -> [Float] {
        Array(UnsafeBufferPointer(start: model.store.values, count: model.store.count))
    }

    /// Three steps split over 2 and 3 workers (slices of 7 images: 4 + 3, 3 + 2 + 2) follow the
    /// one-thread steps up to float rounding: the same noise, gradients and updates.
    @Test(arguments: [(ModelKind.vae, 2), (.vae, 3), (.ae, 2), (.ae, 3)])
    func matchesTheOneThreadStep(_ kind: ModelKind, _ workers: Int) {
        let (reference, adamA, x) = Self.setUp(kind, batch: 7)
        let (model, adamB, _) = Self.setUp(kind, batch: 7)
        let parallel = DataParallelStep(model: model, workers: workers)
        var noiseA = Xoshiro256(seed: 9, stream: .noise)
        var noiseB = noiseA
        for _ in 0..<3 {
            let a = reference.trainStep(x, beta: 0.8, noise: &noiseA, optimizer: adamA)
            let b = parallel.trainStep(x, beta: 0.8, noise: &noiseB, optimizer: adamB)
            #expect(abs(a.recon - b.recon) <= 1e-4 * abs(a.recon))
            #expect(abs(a.kl - b.kl) <= 1e-4 * max(abs(a.kl), 1e-3))
            #expect(abs(a.total - b.total) <= 1e-4 * abs(a.total))
        }
        let va = Self.values(reference)
        let vb = Self.values(model)
        let worst = zip(va, vb).map { abs($0 - $1) }.max()!
        let scale = va.map { abs($0) }.max()!
        #expect(worst <= 1e-4 * scale, "largest weight difference \(worst)")
        #expect(va != Self.values(ConvAutoencoder(Self.config(kind))), "the steps moved the weights")
        // Both streams drew the same noise.
        #expect(noiseA.next() == noiseB.next())
    }

    /// The building block: two slices' gradients, each scaled by the whole batch, add up to the
    /// whole batch's gradient, and their losses weighted by size to its losses.
    @Test(arguments: [ModelKind.vae, .ae])
    func sliceGradientsAddUpToTheBatchGradient(_ kind: ModelKind) {
        let (model, _, x) = Self.setUp(kind, batch: 5)
        let count = model.store.count
        let d = 3
        let pixels = 64
        var rng = Xoshiro256(seed: 8, stream: .noise)
        var eps = [Float](repeating: 0, count: 5 * d)
        for i in eps.indices { eps[i] = rng.normal() }
        let whole = eps.withUnsafeBufferPointer { e in
            model.forwardBackward(x, beta: 0.5, eps: kind == .vae ? e.baseAddress! : nil, gradientBatch: 5)
        }
        let expected = Array(UnsafeBufferPointer(start: model.store.gradients, count: count))
        var summed = [Float](repeating: 0, count: count)
        var recon = 0.0
        var kl = 0.0
        for (lo, n) in [(0, 2), (2, 3)] {
            let slice = Tensor(zeros: [n, 1, 8, 8])
            slice.data.update(from: x.data + lo * pixels, count: n * pixels)
            let parts = eps.withUnsafeBufferPointer { e in
                model.forwardBackward(
                    slice, beta: 0.5, eps: kind == .vae ? e.baseAddress! + lo * d : nil, gradientBatch: 5)
            }
            // each pass sets the gradients: the slices' are summed here, as the step sums its workers'
            for i in 0..<count { summed[i] += model.store.gradients[i] }
            recon += Double(n) / 5 * parts.recon
            kl += Double(n) / 5 * parts.kl
        }
        let scale = expected.map { abs($0) }.max()!
        #expect(scale > 0)
        #expect(zip(expected, summed).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
        #expect(abs(recon - whole.recon) <= 1e-5 * whole.recon)
        #expect(abs(kl - whole.kl) <= 1e-5 * max(whole.kl, 1e-3))
    }

    /// The step's contract, bit for bit: each worker's slice gradient (as one model computes it),
    /// added in slice order, then one Adam update; the replicas read the updated weights. The
    /// store spans several update blocks, so the blocked sum and update are exercised.
    @Test(arguments: [2, 3])
    func isTheSliceGradientsSummedInOrderThenAdam(_ workers: Int) {
        let n = 7
        let (model, adamA, x) = Self.setUp(.vae, batch: n)
        let (reference, adamB, _) = Self.setUp(.vae, batch: n)
        #expect(model.store.count > 2 * DataParallelStep.updateBlock)
        let parallel = DataParallelStep(model: model, workers: workers)
        var noiseA = Xoshiro256(seed: 9, stream: .noise)
        var noiseB = noiseA
        let count = reference.store.count
        let pixels = 64
        let d = reference.noisePerImage
        for _ in 0..<2 {
            _ = parallel.trainStep(x, beta: 0.7, noise: &noiseA, optimizer: adamA)
            var eps = [Float](repeating: 0, count: n * d)
            eps.withUnsafeMutableBufferPointer { noiseB.fillNormal($0) }
            var sum = [Float](repeating: 0, count: count)
            for k in 0..<workers {
                let lo = k * n / workers
                let rows = (k + 1) * n / workers - lo
                let slice = Tensor(zeros: [rows, 1, 8, 8])
                slice.data.update(from: x.data + lo * pixels, count: rows * pixels)
                _ = eps.withUnsafeBufferPointer {
                    reference.forwardBackward(slice, beta: 0.7, eps: $0.baseAddress! + lo * d, gradientBatch: n)
                }
                for i in 0..<count {
                    sum[i] = k == 0 ? reference.store.gradients[i] : sum[i] + reference.store.gradients[i]
                }
            }
            adamB.update(reference.store.values, gradients: sum)
            let differing = zip(Self.values(model), Self.values(reference)).filter { $0 != $1 }.count
            #expect(differing == 0, "\(differing) of \(count) weights differ")
        }
    }

    /// The same number of workers gives the same bits every time.
    @Test func isDeterministic() {
        func run() -> [Float] {
            let (model, adam, x) = Self.setUp(.vae, batch: 9)
            let parallel = DataParallelStep(model: model, workers: 2)
            var noise = Xoshiro256(seed: 2, stream: .noise)
            for _ in 0..<4 { _ = parallel.trainStep(x, beta: 1, noise: &noise, optimizer: adam) }
            return Self.values(model)
        }
        #expect(run() == run())
    }

    /// A batch with fewer images than workers leaves the extra workers idle.
    @Test func batchSmallerThanTheWorkers() {
        let (reference, adamA, x) = Self.setUp(.vae, batch: 1)
        let (model, adamB, _) = Self.setUp(.vae, batch: 1)
        let parallel = DataParallelStep(model: model, workers: 3)
        var noiseA = Xoshiro256(seed: 4, stream: .noise)
        var noiseB = noiseA
        let a = reference.trainStep(x, beta: 1, noise: &noiseA, optimizer: adamA)
        let b = parallel.trainStep(x, beta: 1, noise: &noiseB, optimizer: adamB)
        #expect(a == b)
        #expect(Self.values(reference) == Self.values(model))
    }
}

@Suite("Data-parallel workers' floating-point mode")
struct WorkerModeTests {
    /// Every worker computes in the caller's `SubnormalMode`: flushed inside `flushing`, not outside.
    @Test func workersTakeTheCallersMode() {
        let (model, _, x) = DataParallelStepTests.setUp(.vae, batch: 3)
        let parallel = DataParallelStep(model: model, workers: 3)
        let tiny = Float.leastNormalMagnitude / 8
        func products() -> [Float] {
            let out = UnsafeMutablePointer<Float>.allocate(capacity: 3)
            defer { out.deallocate() }
            parallel.forEachSlice(rowsOf: x) { _, _, lo in
                var c: Float = -1
                BLAS.gemm(m: 1, n: 1, k: 1, a: [tiny], lda: 1, b: [1], ldb: 1, c: &c, ldc: 1)
                out[lo] = c
            }
            return Array(UnsafeBufferPointer(start: out, count: 3))
        }
        #expect(SubnormalMode.flushing { products() } == [0, 0, 0])
        #expect(products() == [tiny, tiny, tiny])
    }
}
