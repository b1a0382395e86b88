import Datasets
import Models
import NeuralNet

#if canImport(Glibc)
    import Glibc
#endif

/// Test-set evaluation: ELBO parts, the importance-sampled NLL bound, latent statistics and a
/// k-NN probe. Every random draw comes from the run's `eval` stream; batches are fixed at
/// `Evaluation.batchSize` images so memory and results do not depend on the training batch size.
public enum Evaluation {
    public static let batchSize = 128
    public static let activeUnitThreshold = 0.01

    /// Average recon / KL / total over the images of `split` (one z sample per image for VAEs).
    /// With `parallel`, each batch is cut into its workers' slices (`vaelab train --threads`);
    /// the noise is drawn for the whole batch first either way.
    public static func losses(
        _ model: any AutoencoderModel, images: DatasetSplit, beta: Double,
        rng: inout Xoshiro256, parallel: DataParallelStep? = nil
    ) -> LossSummary {
        let count = images.count
        let d = model.config.latentDim
        let isVAE = model.hasPosterior
        let recon = UnsafeMutablePointer<Double>.allocate(capacity: batchSize)
        let kl = UnsafeMutablePointer<Double>.allocate(capacity: batchSize)
        defer {
            recon.deallocate()
            kl.deallocate()
        }
        let eps = Tensor(zeros: [0])
        var reconSum = 0.0
        var klSum = 0.0
        forEachBatch(model, parallel, images: images) { x, _, n in
            if let parallel {
                if isVAE {
                    eps.resize([n, d])
                    rng.fillNormal(eps.buffer)
                }
                parallel.forEachSlice(rowsOf: x) { replica, rows, lo in
                    replica.evaluate(
                        rows, beta: Float(beta), eps: isVAE ? eps.data + lo * d : nil, recon: recon + lo, kl: kl + lo)
                }
            } else {
                model.evaluate(x, beta: Float(beta), noise: &rng, recon: recon, kl: kl)
            }
            for i in 0..<n {
                reconSum += recon[i]
                klSum += kl[i]
            }
        }
        let r = reconSum / Double(count)
        let k = klSum / Double(count)
        return LossSummary(recon: r, kl: isVAE ? k : nil, total: r + (isVAE ? beta * k : 0))
    }

    /// Posterior means (or AE codes) [count, d] and, for VAEs, log-variances.
    public static func latents(_ model: any AutoencoderModel, images: DatasetSplit, parallel: DataParallelStep? = nil)
        -> (mu: [Float], logVar: [Float]?)
    {
        let count = images.count
        let d = model.config.latentDim
        let mu = UnsafeMutablePointer<Float>.allocate(capacity: max(count * d, 1))
        let logVar: UnsafeMutablePointer<Float>? = model.hasPosterior ? .allocate(capacity: max(count * d, 1)) : nil
        defer {
            mu.deallocate()
            logVar?.deallocate()
        }
        func encode(_ m: any AutoencoderModel, _ x: Tensor, at start: Int, _ n: Int) {
            let (a, b) = m.encode(x)
            (mu + start * d).update(from: a.data, count: n * d)
            if let b, let logVar { (logVar + start * d).update(from: b.data, count: n * d) }
        }
        forEachBatch(model, parallel, images: images) { x, start, n in
            if let parallel {
                parallel.forEachSlice(rowsOf: x) { replica, rows, lo in
                    encode(replica, rows, at: start + lo, rows.shape[0])
                }
            } else {
                encode(model, x, at: start, n)
            }
        }
        return (
            Array(UnsafeBufferPointer(start: mu, count: count * d)),
            logVar.map { Array(UnsafeBufferPointer(start: $0, count: count * d)) }
        )
    }

    /// IWAE bound (Burda et al. 2016) on -log p(x), in nats per image:
    /// -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x), combined with log-sum-exp.
    /// p(x|z) is the run's likelihood (`ModelConfig.likelihood`, the same as training).
    /// With `parallel`, each of the k decodings of a batch is cut into its workers' slices.
    /// `progress(done, count)` follows each batch (images done of the split's).
    public static func nllBound(
        _ model: any AutoencoderModel, images: DatasetSplit, samples k: Int,
        rng: inout Xoshiro256, parallel: DataParallelStep? = nil,
        progress: (_ done: Int, _ count: Int) -> Void = { _, _ in }
    ) -> NLLBound {
        precondition(model.hasPosterior && k > 0)
        let count = images.count
        let d = model.config.latentDim
        let pixels = model.config.pixels
        let z = Tensor(zeros: [0])
        let eps = Tensor(zeros: [0])
        let bce = UnsafeMutablePointer<Double>.allocate(capacity: batchSize)
        defer { bce.deallocate() }
        var logW = [Double](repeating: 0, count: batchSize * k)
        var (total, squares) = (0.0, 0.0)
        forEachBatch(model, parallel, images: images) { x, start, n in
            // The encoder heads own mu and logvar; decoding does not touch them, so no copies.
            let (mu, logVar) = model.encode(x)
            let lv = logVar!
            z.resize([n, d])
            eps.resize([n, d])
            for s in 0..<k {
                rng.fillNormal(eps.buffer)
                Loss.reparameterize(mu: mu.data, logVar: lv.data, eps: eps.data, into: z.data, count: n * d)
                if let parallel {
                    parallel.forEachSlice(rowsOf: z) { replica, codes, lo in
                        let logits = replica.decode(codes)
                        model.config.likelihood.negativeLogLikelihood(
                            logits: logits.data, targets: x.data + lo * pixels, batch: codes.shape[0],
                            perImage: pixels, perImageLoss: bce + lo)
                    }
                } else {
                    let logits = model.decode(z)
                    model.config.likelihood.negativeLogLikelihood(
                        logits: logits.data, targets: x.data, batch: n, perImage: pixels, perImageLoss: bce)
                }
                for i in 0..<n {
                    let ratio = Loss.logPriorOverPosterior(
                        z: z.data + i * d, eps: eps.data + i * d, logVar: lv.data + i * d, dimensions: d)
                    logW[i * k + s] = -bce[i] + ratio
                }
            }
            for i in 0..<n {
                var mx = -Double.infinity
                for s in 0..<k { mx = max(mx, logW[i * k + s]) }
                var acc = 0.0
                for s in 0..<k { acc += exp(logW[i * k + s] - mx) }
                let bound = -(mx + log(acc) - log(Double(k)))
                total += bound
                squares += bound * bound
            }
            progress(start + n, count)
        }
        let mean = total / Double(count)
        let variance = count > 1 ? max(0, (squares - Double(count) * mean * mean) / Double(count - 1)) : 0
        return NLLBound(mean: mean, standardError: (variance / Double(count)).squareRoot())
    }

    /// The IWAE bound's mean over the images and its standard error over them (sample std / √n).
    public struct NLLBound: Sendable, Equatable {
        public var mean: Double
        public var standardError: Double
    }

    /// Calls `body(x, start, n)` for consecutive batches of at most `batchSize` images; `x` is
    /// [n, 1, H, W], reused between calls. The weights are frozen for the pass (`frozen`).
    static func forEachBatch(
        _ model: any AutoencoderModel, _ parallel: DataParallelStep?, images: DatasetSplit,
        _ body: (Tensor, Int, Int) -> Void
    ) {
        frozen(model, parallel) {
            let x = Tensor(zeros: [0])
            var start = 0
            while start < images.count {
                let n = min(batchSize, images.count - start)
                x.resize([n, 1, model.config.imageHeight, model.config.imageWidth])
                images.copyImages(start..<(start + n), into: x.data)
                body(x, start, n)
                start += n
            }
        }
    }

    /// body() with the weights of the model, and of `parallel`'s replicas, frozen
    /// (`AutoencoderModel.freezeWeights`): inference passes only.
    static func frozen<R>(_ model: any AutoencoderModel, _ parallel: DataParallelStep?, _ body: () -> R) -> R {
        func freeze(_ on: Bool) {
            if let parallel { parallel.freezeWeights(on) } else { model.freezeWeights(on) }
        }
        freeze(true)
        defer { freeze(false) }
        return body()
    }

    /// Per-dimension variance of the rows of `values` [count, d].
    public static func columnVariance(_ values: [Float], count: Int, dimensions d: Int) -> [Double] {
        var mean = [Double](repeating: 0, count: d)
        var sq = mean
        for i in 0..<count { for j in 0..<d { mean[j] += Double(values[i * d + j]) } }
        for j in 0..<d { mean[j] /= Double(count) }
        for i in 0..<count {
            for j in 0..<d {
                let c = Double(values[i * d + j]) - mean[j]
                sq[j] += c * c
            }
        }
        return sq.map { $0 / Double(count) }
    }

    /// Mean KL(q(z_j|x) || N(0, 1)) per dimension j over the rows.
    public static func klPerDimension(mu: [Float], logVar: [Float], count: Int, dimensions d: Int) -> [Double] {
        var kl = [Double](repeating: 0, count: d)
        for i in 0..<count {
            for j in 0..<d {
                let m = Double(mu[i * d + j])
                let lv = Double(logVar[i * d + j])
                kl[j] += -0.5 * (1 + lv - m * m - exp(lv))
            }
        }
        return kl.map { $0 / Double(count) }
    }

    /// Accuracy of k-nearest-neighbour majority vote (Euclidean; ties broken by the nearest
    /// neighbour's label among the tied classes) of `test` rows against `train` rows.
    /// Distances come from blocked GEMMs: |a - b|^2 = |a|^2 + |b|^2 - 2 a.b.
    public static func knnAccuracy(
        train: [Float], trainLabels: [UInt8], test: [Float], testLabels: [UInt8],
        dimensions d: Int, neighbors k: Int
    ) -> Double {
        let nTrain = trainLabels.count
        let nTest = testLabels.count
        precondition(nTrain > 0 && nTest > 0)
        // Test rows in blocks of 256 against the training set in chunks of 8192 columns: a
        // 256 x 8192 distance tile (8 MB) instead of 256 x 60,000 (61 MB). Columns are visited in
        // order and ties keep the earlier index, so the chunking does not change the result.
        let block = 256
        let chunk = 8192
        let dots = Tensor(zeros: [block, min(chunk, nTrain)])
        let nearest = NearestNeighbours(rows: block, k: min(k, nTrain))
        let norms = Tensor(zeros: [nTrain])  // |b_j|^2 of each training row
        var correct = 0
        train.withUnsafeBufferPointer { tr in
            for j in 0..<nTrain { norms.data[j] = (0..<d).reduce(Float(0)) { $0 + tr[j * d + $1] * tr[j * d + $1] } }
            test.withUnsafeBufferPointer { te in
                for start in stride(from: 0, to: nTest, by: block) {
                    let n = min(block, nTest - start)
                    nearest.reset()
                    for c0 in stride(from: 0, to: nTrain, by: chunk) {
                        let width = min(chunk, nTrain - c0)
                        BLAS.gemm(
                            transB: true, m: n, n: width, k: d, a: te.baseAddress! + start * d, lda: d,
                            b: tr.baseAddress! + c0 * d, ldb: d, c: dots.data, ldc: width)
                        for r in 0..<n {
                            nearest.offer(
                                row: r, dots: dots.data + r * width, norms: norms.data, from: c0, count: width)
                        }
                    }
                    for r in 0..<n where nearest.vote(row: r, labels: trainLabels) == testLabels[start + r] {
                        correct += 1
                    }
                }
            }
        }
        return Double(correct) / Double(nTest)
    }
}

/// The k nearest candidates offered so far to each of `rows` rows, nearest first: a candidate
/// joins when it is nearer than the farthest kept, after those at the same distance (so ties
/// keep the earlier index). Pointers, not arrays: `offer` is the probe's hot loop.
private final class NearestNeighbours {
    let k: Int
    /// [rows, k] each: the kept candidates' distances and indices, nearest first.
    private let distances: UnsafeMutablePointer<Float>
    private let indices: UnsafeMutablePointer<Int>
    /// How many of each row's k places are taken.
    private var filled: [Int]

    init(rows: Int, k: Int) {
        precondition(k >= 1)
        self.k = k
        distances = .allocate(capacity: rows * k)
        indices = .allocate(capacity: rows * k)
        filled = [Int](repeating: 0, count: rows)
    }

    deinit {
        distances.deallocate()
        indices.deallocate()
    }

    /// Empties every row's list.
    func reset() {
        for r in filled.indices { filled[r] = 0 }
    }

    /// Offers row `r` the candidates j in `c0 ..< c0 + count`, in order, ranked by |b_j|^2 - 2 a.b_j
    /// = `norms[j]` - 2 `dots[j - c0]` (the row's own |a|^2 is the same for every candidate): each
    /// an insertion into the row's sorted list.
    func offer(row r: Int, dots: UnsafePointer<Float>, norms: UnsafePointer<Float>, from c0: Int, count: Int) {
        let (kept, ids) = (distances + r * k, indices + r * k)
        var f = filled[r]
        for j in c0..<(c0 + count) {
            let distance = norms[j] - 2 * dots[j - c0]
            guard f < k || distance < kept[f - 1] else { continue }
            var pos = f < k ? f : k - 1
            if f < k { f += 1 }
            while pos > 0 && kept[pos - 1] > distance {
                (kept[pos], ids[pos]) = (kept[pos - 1], ids[pos - 1])
                pos -= 1
            }
            (kept[pos], ids[pos]) = (distance, j)
        }
        filled[r] = f
    }

    /// Row `r`'s majority label among its candidates' `labels`; among tied classes, that of the
    /// nearest candidate.
    func vote(row r: Int, labels: [UInt8]) -> UInt8 {
        let kept = (0..<filled[r]).map { labels[indices[r * k + $0]] }
        var votes = [Int](repeating: 0, count: 256)
        for label in kept { votes[Int(label)] += 1 }
        let top = votes.max()!
        return kept.first { votes[Int($0)] == top }!
    }
}
