import Datasets
import Foundation
import Models
import NeuralNet
import Support

/// Why a run stopped early.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case nonFiniteLoss(epoch: Int, batch: Int, value: Double)
    case invalidConfig(field: String, expected: String)
    case datasetTooSmall(String)
    /// A stop signal arrived (`StopRequest`); the run keeps its last epoch checkpoint.
    case interrupted(signal: Int32, epoch: Int)

    public var description: String {
        switch self {
        case .interrupted(let signal, let epoch):
            return
                "stopped by \(StopRequest.name(signal)) during epoch \(epoch); resumes from the last epoch checkpoint"
        case .nonFiniteLoss(let epoch, let batch, let value):
            return "training diverged: loss is \(value) at epoch \(epoch), batch \(batch) (try a smaller learning_rate)"
        case .invalidConfig(let field, let expected):
            return "invalid config: \(field): expected \(expected)"
        case .datasetTooSmall(let message):
            return message
        }
    }
}

/// What a trainer reports while it works.
public enum TrainingEvent: Sendable {
    /// Inside an epoch: batches done, running mean of the total loss.
    case batch(epoch: Int, batch: Int, batches: Int, runningTotal: Double, elapsed: Double)
    case epochEnd(EpochRecord, seconds: Double)
    case evaluating(String)
    /// Inside the longest evaluation (the IWAE bound): the fraction done, seconds so far.
    case evaluationProgress(String, fraction: Double, elapsed: Double)
}

/// The outcome of a finished run.
public struct TrainedRun {
    public let model: any AutoencoderModel
    public let metrics: RunMetrics
    public let timing: RunTiming
}

/// Trains and evaluates one run, as a pure function of its config and the data.
///
/// Randomness: weights from the `init` stream, the epoch permutations from `shuffle`, the
/// reparameterisation noise from `noise`, every evaluation draw from `eval`.
/// The last batch of an epoch may be smaller (every image is seen once per epoch).
public final class Trainer {
    public let config: RunConfig
    /// The data as the run sees it: with `binarize: dynamic`, the test split binarised once
    /// (`binarizedForEvaluation`); training batches are binarised as they are drawn.
    public let data: LoadedDataset
    public let model: any AutoencoderModel
    /// `RunConfig.dataFingerprint` of the files: what metrics.json and checkpoints record.
    public let dataFingerprint: String

    // Everything that changes during training; a checkpoint saves all of it.
    let adam: Adam
    var shuffle: Xoshiro256
    var noise: Xoshiro256
    var evalRNG: Xoshiro256
    /// Dynamic binarisation's pixel draws (nil without it).
    var binarizeRNG: Xoshiro256?
    public internal(set) var records: [EpochRecord] = []
    var epochSeconds: [Double] = []
    var trainSeconds = 0.0

    /// Threads for this run (`vaelab train --threads`): each training and evaluation batch is
    /// split across them (`DataParallelStep`; the caller runs BLAS on one thread, see
    /// `ExecutionPolicy`). The metrics depend on it (float rounding); `vaelab run` keeps 1.
    public var threads = 1

    public init(config: RunConfig, data: LoadedDataset) throws {
        if let (field, expected) = config.firstInvalidField() {
            throw TrainingError.invalidConfig(field: field, expected: expected)
        }
        guard data.train.rows == 28, data.train.cols == 28 else {
            throw TrainingError.datasetTooSmall("dataset \(data.name.rawValue): expected 28x28 images")
        }
        self.config = config
        dataFingerprint = config.dataFingerprint(datasetFingerprint(data.checksums))
        self.data = LoadedDataset(
            name: data.name, train: data.train, test: config.binarize.evaluationImages(data.test),
            checksums: data.checksums, directory: data.directory)
        if config.binarize == .dynamic { binarizeRNG = Xoshiro256(seed: config.seed, stream: .binarize) }
        model = ModelRegistry.make(config.modelConfig)
        model.initialize(seed: config.seed)
        adam = Adam(count: model.parameterCount, learningRate: Float(config.learningRate))
        shuffle = Xoshiro256(seed: config.seed, stream: .shuffle)
        noise = Xoshiro256(seed: config.seed, stream: .noise)
        evalRNG = Xoshiro256(seed: config.seed, stream: .eval)
    }

    /// Epochs finished so far (more than 0 after restoring a checkpoint).
    public var completedEpochs: Int { records.count }

    /// Trains the remaining epochs, then evaluates. `afterEpoch` runs after every epoch, the last
    /// included (the runner saves a checkpoint there, so a run stopped during a long final
    /// evaluation resumes at the evaluation); an error it throws stops the run.
    /// It computes with subnormals flushed to zero (`SubnormalMode`).
    public func run(
        afterEpoch: (Trainer) throws -> Void = { _ in },
        onEvent: (TrainingEvent) -> Void = { _ in }
    ) throws -> TrainedRun {
        try SubnormalMode.flushing { try train(afterEpoch: afterEpoch, onEvent: onEvent) }
    }

    private func train(
        afterEpoch: (Trainer) throws -> Void, onEvent: (TrainingEvent) -> Void
    ) throws -> TrainedRun {
        let started = timestamp()
        let t0 = monotonicSeconds()
        let earlierSeconds = epochSeconds.reduce(0, +)  // epochs restored from a checkpoint
        let train = data.train
        let test = data.test
        let x = Tensor(zeros: [config.batchSize, 1, train.rows, train.cols])
        let parallel = threads > 1 ? DataParallelStep(model: model, workers: threads) : nil

        while records.count < config.epochs {
            let epoch = records.count + 1
            let e0 = monotonicSeconds()
            let sums = try trainEpoch(epoch, x: x, parallel: parallel, onEvent: onEvent)
            trainSeconds += monotonicSeconds() - e0
            let batchCount = (train.count + config.batchSize - 1) / config.batchSize
            let isVAE = model.hasPosterior
            let trainSummary = LossSummary(
                recon: sums.recon / Double(batchCount), kl: isVAE ? sums.kl / Double(batchCount) : nil,
                total: sums.total / Double(batchCount))
            try stopIfRequested(epoch: epoch)
            let testSummary = Evaluation.losses(
                model, images: test, beta: config.beta, rng: &evalRNG, parallel: parallel)
            let record = EpochRecord(epoch: epoch, train: trainSummary, test: testSummary)
            records.append(record)
            let seconds = monotonicSeconds() - e0
            epochSeconds.append(seconds)
            onEvent(.epochEnd(record, seconds: seconds))
            try afterEpoch(self)
            FaultInjection.reached("epoch")
        }

        let ev0 = monotonicSeconds()
        try stopIfRequested(epoch: records.count)
        FaultInjection.reached("evaluation")
        let final = try finalEvaluation(
            last: records[records.count - 1], rng: &evalRNG, parallel: parallel, onEvent: onEvent)
        let evaluationSeconds = monotonicSeconds() - ev0
        let metrics = RunMetrics(
            configHash: config.hash,
            dataFingerprint: dataFingerprint, epochs: records, final: final)
        let timing = RunTiming(
            totalSeconds: earlierSeconds + monotonicSeconds() - t0, trainSeconds: trainSeconds,
            evaluationSeconds: evaluationSeconds,
            epochSeconds: epochSeconds,
            trainImagesPerSecond: Double(train.count * config.epochs) / max(trainSeconds, 1e-9),
            peakResidentMB: Provenance.peakResidentMB, startedAt: started, finishedAt: timestamp(),
            provenance: Provenance.current(threads: threads))
        return TrainedRun(model: model, metrics: metrics, timing: timing)
    }

    /// Throws `interrupted` once a stop signal has arrived: called where stopping loses at most
    /// the current epoch (the checkpoint of the one before stays).
    private func stopIfRequested(epoch: Int) throws {
        if let signal = StopRequest.signal { throw TrainingError.interrupted(signal: signal, epoch: epoch) }
    }

    /// One pass over the training set in this epoch's order (the `shuffle` stream), one
    /// optimisation step per batch; returns the sums of the batches' loss parts. A non-finite
    /// loss stops the run with its epoch and batch.
    private func trainEpoch(
        _ epoch: Int, x: Tensor, parallel: DataParallelStep?, onEvent: (TrainingEvent) -> Void
    ) throws -> (recon: Double, kl: Double, total: Double) {
        let train = data.train
        let pixels = train.pixelsPerImage
        let batchCount = (train.count + config.batchSize - 1) / config.batchSize
        let beta = Float(config.beta)
        let e0 = monotonicSeconds()
        let order = shuffle.permutation(train.count)
        var sums = (recon: 0.0, kl: 0.0, total: 0.0)
        for b in 0..<batchCount {
            try stopIfRequested(epoch: epoch)
            let lo = b * config.batchSize
            let n = min(config.batchSize, train.count - lo)
            x.resize([n, 1, train.rows, train.cols])
            for i in 0..<n { train.copyImage(order[lo + i], into: x.data + i * pixels) }
            if binarizeRNG != nil { Binarization.sample(x.data, count: x.count, rng: &binarizeRNG!) }
            let parts =
                parallel?.trainStep(x, beta: beta, noise: &noise, optimizer: adam)
                ?? model.trainStep(x, beta: beta, noise: &noise, optimizer: adam)
            FaultInjection.reached("batch")
            if !parts.total.isFinite {
                throw TrainingError.nonFiniteLoss(epoch: epoch, batch: b + 1, value: parts.total)
            }
            sums.recon += parts.recon
            sums.kl += parts.kl
            sums.total += parts.total
            if b % 20 == 19 || b == batchCount - 1 {
                onEvent(
                    .batch(
                        epoch: epoch, batch: b + 1, batches: batchCount, runningTotal: sums.total / Double(b + 1),
                        elapsed: monotonicSeconds() - e0))
            }
        }
        return sums
    }

    private func finalEvaluation(
        last: EpochRecord, rng: inout Xoshiro256, parallel: DataParallelStep?,
        onEvent: (TrainingEvent) -> Void
    ) throws -> FinalMetrics {
        let test = data.test
        let train = data.train
        let d = config.latentDim
        onEvent(.evaluating("latent statistics"))
        let (testMu, testLogVar) = Evaluation.latents(model, images: test, parallel: parallel)
        let variance = Evaluation.columnVariance(testMu, count: test.count, dimensions: d)
        var klPerDim: [Double]?
        if let testLogVar {
            klPerDim = Evaluation.klPerDimension(mu: testMu, logVar: testLogVar, count: test.count, dimensions: d)
        }
        onEvent(.evaluating("k-NN probe"))
        let probe = config.binarize.evaluationImages(train)
        let (trainMu, _) = Evaluation.latents(model, images: probe, parallel: parallel)
        let knn = Evaluation.knnAccuracy(
            train: trainMu, trainLabels: train.labels, test: testMu, testLabels: test.labels,
            dimensions: d, neighbors: config.knnNeighbors)
        var nll: Evaluation.NLLBound?
        if model.hasPosterior && config.iwaeSamples > 0 {
            let what = "IWAE bound, k = \(config.iwaeSamples)"
            onEvent(.evaluating(what))
            let t0 = monotonicSeconds()
            nll = Evaluation.nllBound(model, images: test, samples: config.iwaeSamples, rng: &rng, parallel: parallel) {
                done, total in
                onEvent(
                    .evaluationProgress(what, fraction: Double(done) / Double(total), elapsed: monotonicSeconds() - t0))
            }
        }
        let isVAE = model.hasPosterior
        return FinalMetrics(
            train: last.train, test: last.test, testNLLBound: nll?.mean,
            testNLLStandardError: config.binarize == .dynamic ? nll?.standardError : nil,
            iwaeSamples: isVAE ? config.iwaeSamples : nil,
            activeUnits: isVAE ? variance.filter { $0 > Evaluation.activeUnitThreshold }.count : nil,
            activeUnitThreshold: Evaluation.activeUnitThreshold, klPerDimension: klPerDim, latentVariance: variance,
            knnAccuracy: knn, knnNeighbors: config.knnNeighbors)
    }
}
