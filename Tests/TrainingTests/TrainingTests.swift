import Datasets
import Foundation
import Models
import NeuralNet
import Support
import Testing
import Training

/// The first `train` / `test` images of the committed MNIST, loaded once.
let smallMNIST: LoadedDataset = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    // A broken checkout is a test failure, not a crash: tests check `smallMNIST.train.count`.
    return
        (try? loadDataset(
            .mnist, directory: root.appendingPathComponent("data/mnist").path, trainLimit: 512, testLimit: 256))
        ?? LoadedDataset(
            name: .mnist, train: DatasetSplit(images: [], labels: [], count: 0, rows: 28, cols: 28),
            test: DatasetSplit(images: [], labels: [], count: 0, rows: 28, cols: 28), checksums: [:], directory: "")
}()

func smallConfig(_ kind: ModelKind = .vae, epochs: Int = 1) -> RunConfig {
    var c = RunConfig()
    c.model = kind
    c.latentDim = 4
    c.hiddenUnits = 32
    c.epochs = epochs
    c.batchSize = 64
    c.trainLimit = 512
    c.testLimit = 256
    c.iwaeSamples = 4
    return c
}

@Suite("Training", .serialized)
struct TrainingTests {
    @Test func convAutoencoderHalvesItsLossOnAFewHundredImages() throws {
        #expect(smallMNIST.train.count == 512)
        let model = ConvAutoencoder(ModelConfig(kind: .ae, latentDim: 16, hiddenUnits: 64))
        model.initialize(seed: 0)
        let adam = Adam(count: model.parameterCount)
        var noise = Xoshiro256(seed: 0, stream: .noise)
        let x = Tensor(zeros: [64, 1, 28, 28])
        var first = 0.0
        var last = 0.0
        for epoch in 0..<6 {
            var sum = 0.0
            for b in 0..<8 {
                smallMNIST.train.images.withUnsafeBufferPointer {
                    x.data.update(from: $0.baseAddress! + b * 64 * 784, count: 64 * 784)
                }
                sum += model.trainStep(x, beta: 1, noise: &noise, optimizer: adam).total
            }
            if epoch == 0 { first = sum / 8 }
            last = sum / 8
        }
        #expect(last < first / 2, "loss went from \(first) to \(last)")
    }

    @Test func sameConfigGivesByteIdenticalMetrics() throws {
        let config = smallConfig()
        let a = try Trainer(config: config, data: smallMNIST).run()
        let b = try Trainer(config: config, data: smallMNIST).run()
        #expect(try CanonicalJSON.encode(a.metrics) == CanonicalJSON.encode(b.metrics))
        var other = config
        other.seed = 1
        let c = try Trainer(config: other, data: smallMNIST).run()
        #expect(c.metrics.epochs[0].train.total != a.metrics.epochs[0].train.total)
    }

    /// A run trains and evaluates with subnormals flushed, and leaves the caller's mode as it was.
    @Test func runsInTheSubnormalMode() throws {
        let flushed = SubnormalMode.flushing { SubnormalMode.current }
        let before = SubnormalMode.current
        #expect(flushed != before)
        var during: [UInt32] = []
        _ = try Trainer(config: smallConfig(.ae), data: smallMNIST).run(
            afterEpoch: { _ in during.append(SubnormalMode.current) },
            onEvent: { _ in during.append(SubnormalMode.current) })
        #expect(!during.isEmpty && during.allSatisfy { $0 == flushed })
        #expect(SubnormalMode.current == before)
    }

    @Test func metricsAreCompleteForBothKinds() throws {
        let vae = try Trainer(config: smallConfig(.vae, epochs: 2), data: smallMNIST).run().metrics
        #expect(vae.epochs.count == 2)
        #expect(vae.final.test.kl != nil && vae.final.testNLLBound != nil && vae.final.activeUnits != nil)
        #expect(vae.final.klPerDimension?.count == 4)
        // The IWAE bound is no worse than the single-sample ELBO estimate, up to sampling noise.
        #expect(vae.final.testNLLBound! < vae.final.test.total + 5)
        #expect((0...1).contains(vae.final.knnAccuracy))
        let ae = try Trainer(config: smallConfig(.ae), data: smallMNIST).run().metrics
        #expect(ae.final.test.kl == nil && ae.final.testNLLBound == nil && ae.final.activeUnits == nil)
        #expect(ae.final.test.total == ae.final.test.recon)
        let json = String(decoding: try CanonicalJSON.encode(ae), as: UTF8.self)
        #expect(json.contains("\"kl\" : null") && json.contains("\"test_nll_iwae\" : null"))
    }

    @Test func divergingRunStopsWithEpochAndBatch() throws {
        var config = smallConfig(.vae)
        config.learningRate = 10
        config.beta = 1e6
        #expect(throws: TrainingError.self) { try Trainer(config: config, data: smallMNIST).run() }
        do {
            _ = try Trainer(config: config, data: smallMNIST).run()
        } catch let TrainingError.nonFiniteLoss(epoch, batch, _) {
            #expect(epoch == 1 && batch >= 1)
        }
    }

    @Test func invalidConfigIsRejectedWithTheField() {
        var config = smallConfig()
        config.batchSize = 0
        #expect(throws: TrainingError.invalidConfig(field: "batch_size", expected: "an integer in 1...60000, got 0")) {
            try Trainer(config: config, data: smallMNIST)
        }
    }

    @Test func knnOnSeparableClusters() {
        // Two clusters far apart; every test point sits in its own cluster.
        let train: [Float] = [0, 0, 0.1, 0, 0, 0.1, 10, 10, 10.1, 10, 10, 10.1]
        let acc = Evaluation.knnAccuracy(
            train: train, trainLabels: [0, 0, 0, 1, 1, 1], test: [0.05, 0.05, 9.9, 9.9],
            testLabels: [0, 1], dimensions: 2, neighbors: 3)
        #expect(acc == 1)
        let wrong = Evaluation.knnAccuracy(
            train: train, trainLabels: [0, 0, 0, 1, 1, 1], test: [0.05, 0.05],
            testLabels: [1], dimensions: 2, neighbors: 3)
        #expect(wrong == 0)
    }

    /// The chunked k-NN against a direct search over the whole training set, with more training
    /// points than one chunk and coordinates on a coarse grid (so many distances tie).
    @Test func knnMatchesADirectSearchAcrossChunks() {
        var rng = Xoshiro256(seed: 7)
        let nTrain = 20_000
        let nTest = 300
        let d = 3
        let k = 5
        let train = (0..<(nTrain * d)).map { _ in Float(Int(rng.uniform() * 8)) }
        let test = (0..<(nTest * d)).map { _ in Float(Int(rng.uniform() * 8)) }
        let trainLabels = (0..<nTrain).map { _ in UInt8(Int(rng.uniform() * 10)) }
        let testLabels = (0..<nTest).map { _ in UInt8(Int(rng.uniform() * 10)) }
        var correct = 0
        for t in 0..<nTest {
            // Stable sort by distance: ties keep the lower index, as the chunked search does.
            let dist = (0..<nTrain).map { j in
                (0..<d).reduce(Float(0)) {
                    $0 + (test[t * d + $1] - train[j * d + $1]) * (test[t * d + $1] - train[j * d + $1])
                }
            }
            let nearest = (0..<nTrain).sorted { dist[$0] != dist[$1] ? dist[$0] < dist[$1] : $0 < $1 }.prefix(k)
            var votes = [Int](repeating: 0, count: 10)
            for j in nearest { votes[Int(trainLabels[j])] += 1 }
            let top = votes.max()!
            if nearest.map({ trainLabels[$0] }).first(where: { votes[Int($0)] == top }) == testLabels[t] {
                correct += 1
            }
        }
        let acc = Evaluation.knnAccuracy(
            train: train, trainLabels: trainLabels, test: test, testLabels: testLabels,
            dimensions: d, neighbors: k)
        #expect(acc == Double(correct) / Double(nTest))
    }

    @Test func runIDIsReadableAndContentAddressed() {
        var c = RunConfig()
        c.latentDim = 16
        let id = c.runID(dataFingerprint: "abc")
        #expect(id.hasPrefix("vae-mnist-d16-h256-b1-s0-") && id.count == "vae-mnist-d16-h256-b1-s0-".count + 8)
        #expect(c.runID(dataFingerprint: "abd") != id)
        c.beta = 0.25
        #expect(c.runID(dataFingerprint: "abc").hasPrefix("vae-mnist-d16-h256-b0.25-s0-"))
    }

    /// The fields of the first committed runs, always written. A field added since must be
    /// `addedLater()` (left out at its default), or every committed run id would change.
    static let firstFields = [
        "model", "latent_dim", "hidden_units", "beta", "seed", "dataset", "epochs", "batch_size", "learning_rate",
        "train_limit", "test_limit", "iwae_samples", "knn_neighbors",
    ]

    @Test func fieldsAddedLaterKeepTheDefaultConfigBytes() throws {
        #expect(RunField.all.filter { !$0.omittedAtDefault }.map(\.key) == Self.firstFields)
        let object = try JSONSerialization.jsonObject(with: RunConfig().canonicalJSON()) as? [String: Any]
        #expect(object.map { Set($0.keys) } == Set(Self.firstFields))
        // A config written without the later fields reads back as the default.
        #expect(try JSONDecoder().decode(RunConfig.self, from: RunConfig().canonicalJSON()) == RunConfig())
    }

    @Test func canonicalConfigHasEveryFieldSorted() throws {
        let json = String(decoding: RunConfig().canonicalJSON(), as: UTF8.self)
        let keys = Self.firstFields.sorted()
        var last = json.startIndex
        for key in keys {
            let r = try #require(json.range(of: "\"\(key)\""), "missing \(key)")
            #expect(r.lowerBound >= last)
            last = r.lowerBound
        }
        #expect(json.contains("\"train_limit\" : null"))
    }
}

@Suite("Benchmark GEMM ceiling")
struct GEMMCeilingTests {
    /// The ceiling's arithmetic rests on the recorded calls: a step's sgemm FLOPs are the model's
    /// training-step FLOPs less those of its two direct kernels (conv1: forward and weight
    /// gradient, no input gradient; deconv3: forward and both gradients).
    @Test func aStepsRecordedGEMMsAreItsFLOPsLessTheDirectKernels() {
        let (model, x) = Self.fixture(batch: 8)
        var noise = Xoshiro256(seed: 0, stream: .noise)
        let calls = BLAS.recordingShapes {
            _ = model.trainStep(x, beta: 1, noise: &noise, optimizer: Adam(count: model.parameterCount))
        }
        #expect(!calls.isEmpty)
        #expect(calls.reduce(0) { $0 + $1.flops } == Self.gemmFLOPs(model, batch: 8))
        #expect(BLAS.secondsAlone(calls[0], calls: 1, repeats: 1) > 0)
    }

    /// With workers (`bench --threads`), the calls recorded are worker 0's, on the caller's
    /// thread: those of its slice of the batch, which the ceiling sets against one core.
    @Test func withWorkersTheRecordedGEMMsAreThoseOfWorkerZerosSlice() {
        let (model, x) = Self.fixture(batch: 8)
        let parallel = DataParallelStep(model: model, workers: 2)
        var noise = Xoshiro256(seed: 0, stream: .noise)
        let calls = BLAS.recordingShapes {
            _ = parallel.trainStep(x, beta: 1, noise: &noise, optimizer: Adam(count: model.parameterCount))
        }
        #expect(calls.reduce(0) { $0 + $1.flops } == Self.gemmFLOPs(model, batch: 4))
    }

    static func fixture(batch n: Int) -> (any AutoencoderModel, Tensor) {
        let model = ModelRegistry.make(ModelConfig(kind: .vae, latentDim: 16, hiddenUnits: 16))
        model.initialize(seed: 0)
        let x = Tensor(zeros: [n, 1, 28, 28])
        for i in 0..<x.count { x.data[i] = Float(i % 7) / 7 }
        return (model, x)
    }

    /// A step's FLOPs on n images less those of the direct kernels.
    static func gemmFLOPs(_ model: any AutoencoderModel, batch n: Int) -> Int {
        let conv1 = Conv2D(name: "c", inputChannels: 1, outputChannels: 32, kernelSize: 3, stride: 2)
        let deconv3 = ConvTranspose2D(name: "d", inputChannels: 32, outputChannels: 1, kernelSize: 3, stride: 1)
        let direct =
            2 * conv1.forwardFLOPs(inputShape: [n, 1, 28, 28]) + 3 * deconv3.forwardFLOPs(inputShape: [n, 32, 28, 28])
        return model.flops(batch: n).trainingStep - direct
    }
}

@Suite("Benchmark BLAS kernel hint")
struct BLASKernelAdviceTests {
    let zen4: Set<String> = ["sse2", "avx", "avx2", "fma", "avx512f", "avx512bw"]

    @Test func forcedNarrowKernelOnAnAVX512CPUGetsAHintNamingTheVariable() throws {
        let hint = try #require(
            BLASKernelAdvice.hint(
                core: "Haswell", cpuFlags: zen4,
                environment: ["OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"]))
        #expect(hint.contains("AVX-512") && hint.contains("Haswell kernel (AVX2)"))
        #expect(hint.contains("OPENBLAS_CORETYPE=Haswell") && hint.contains("OPENBLAS_L2_SIZE=512"))
        #expect(hint.contains("vaelab's own AVX-512 kernel with that kernel's bits"))
        #expect(!hint.contains("\n"))
        // vaelab's kernels built without AVX-512 (`make bench-avx2`): OpenBLAS runs every GEMM.
        let avx2 = try #require(
            BLASKernelAdvice.hint(
                core: "Haswell", cpuFlags: zen4, environment: ["OPENBLAS_CORETYPE": "Haswell"], kernelBits: 256))
        #expect(avx2.contains("Haswell kernel (AVX2)") && !avx2.contains("own"))
    }

    @Test func aKernelAsWideAsTheCPUGetsNone() {
        #expect(BLASKernelAdvice.hint(core: "Cooperlake", cpuFlags: zen4, environment: [:]) == nil)
        #expect(BLASKernelAdvice.hint(core: "Haswell", cpuFlags: ["avx", "avx2", "fma"], environment: [:]) == nil)
        #expect(
            BLASKernelAdvice.hint(
                core: "Zen", cpuFlags: ["avx", "avx2", "fma"], environment: ["OPENBLAS_CORETYPE": "Zen"]) == nil)
    }

    @Test func unforcedNarrowKernelSaysOpenBLASChoseIt() throws {
        let hint = try #require(
            BLASKernelAdvice.hint(core: "Sandybridge", cpuFlags: ["avx", "avx2", "fma"], environment: [:]))
        #expect(hint.contains("OpenBLAS chose it") && hint.contains("(AVX)") && !hint.contains("own"))
    }
}
