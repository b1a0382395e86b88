import Datasets
import Foundation
import NeuralNet
import Support
import Training

/// How a process spends its cores, decided once (`vaelab run`, `vaelab train`) and handed down.
///
/// A study fans whole runs over the cores (`jobs`, one thread each); a single run may instead
/// split each batch over `threadsPerRun` threads (`DataParallelStep`). Every GEMM runs on one
/// BLAS thread either way: the threads above already fill the cores, and OpenBLAS's results
/// can depend on its thread count, so serial and parallel runs stay bit-identical.
public struct ExecutionPolicy: Sendable, Equatable {
    /// Runs trained at a time.
    public var jobs: Int
    /// Threads per run (`Trainer.threads`); metrics depend on it through float rounding.
    public var threadsPerRun: Int
    /// Threads OpenBLAS uses inside one GEMM.
    public let blasThreads = 1

    public init(jobs: Int = 1, threadsPerRun: Int = 1) {
        self.jobs = max(1, jobs)
        self.threadsPerRun = max(1, threadsPerRun)
    }

    /// Sets the process-wide BLAS thread count: call once, before any run starts.
    public func apply() { BLAS.threads = blasThreads }
}

/// One run's whole lifecycle, the one way every command trains a run (`vaelab train`, each
/// worker of `vaelab run`'s Dispatch pool, a Slurm array task):
///
///     lock the run directory -> skip if another process finished it -> write config.json ->
///     resume from the last epoch checkpoint -> train (a checkpoint after every epoch) ->
///     evaluate -> finish atomically (weights, timing, metrics last) -> draw the figures
///
/// A failure (a non-finite loss, an I/O error) leaves `failure.json` with the epoch and batch
/// and is thrown; a stop signal (`StopRequest`) returns `.interrupted` with the last epoch
/// checkpoint kept; the lock is released on every path.
public struct RunJob {
    public enum Outcome {
        /// Trained and finished here; `figureError` says why figures are missing, if they are.
        case trained(TrainedRun, figureError: String?)
        /// Another process finished the run while this one waited for its lock.
        case finishedElsewhere
        /// Another process holds the run's lock.
        case busy
        /// A stop signal ended training; the last epoch checkpoint (if any) is kept, nothing failed.
        case interrupted(TrainingError)
    }

    public let id: String
    public let config: RunConfig
    public let directory: RunDirectory
    public var policy = ExecutionPolicy()
    /// Leave a run that is finished (verified metrics) alone; false trains it again.
    public var skipIfFinished = true
    /// Continue from the run's epoch checkpoint when it has a usable one; false starts over.
    public var resume = true

    public init(id: String, config: RunConfig, directory: RunDirectory) {
        self.id = id
        self.config = config
        self.directory = directory
    }

    /// Runs the lifecycle on `data` (already limited to the config's splits). `onStart` is
    /// called once training begins, with the epochs a checkpoint restored.
    public func execute(
        data: LoadedDataset, onStart: (_ resumedEpochs: Int) -> Void = { _ in },
        onEvent: (TrainingEvent) -> Void = { _ in }
    ) throws -> Outcome {
        try AtomicFile.makeDirectory(directory.path)
        guard let lock = try RunLock.acquire(directory: directory.path) else { return .busy }
        defer { withExtendedLifetime(lock) {} }
        var epochReached: Int?
        do {
            let fingerprint = datasetFingerprint(data.checksums)
            if skipIfFinished, FileManager.default.fileExists(atPath: directory.metricsPath),
                case .success = directory.verifyMetrics(config: config, dataFingerprint: fingerprint)
            {
                return .finishedElsewhere
            }
            AtomicFile.removeStaleTemporaries(in: directory.path)
            AtomicFile.removeStaleTemporaries(in: directory.figuresPath)
            try directory.begin(config)
            let trainer = try Trainer(config: config, data: data)
            trainer.threads = policy.threadsPerRun
            if resume, FileManager.default.fileExists(atPath: directory.checkpointPath) {
                do { try trainer.restoreCheckpoint(from: directory.checkpointPath) } catch {
                    onEvent(.evaluating("ignoring checkpoint: \(error)"))
                }
            }
            onStart(trainer.completedEpochs)
            let trained = try trainer.run(
                afterEpoch: { t in
                    epochReached = t.completedEpochs
                    try t.saveCheckpoint(to: directory.checkpointPath)
                },
                onEvent: { event in
                    if case .batch(let epoch, _, _, _, _) = event { epochReached = epoch }
                    onEvent(event)
                })
            try directory.finish(trained, config: config)
            // The run is complete with its metrics; figures that fail here are drawn again from
            // the saved weights later (`vaelab run` retries missing figures).
            do {
                try RunFigures.render(
                    model: trained.model, config: config, runID: id, test: trainer.data.test, into: directory)
                return .trained(trained, figureError: nil)
            } catch {
                return .trained(trained, figureError: "\(error)")
            }
        } catch let error as TrainingError {
            guard case .interrupted = error else { throw recordFailure(error, epoch: epochReached) }
            return .interrupted(error)
        } catch {
            throw recordFailure(error, epoch: epochReached)
        }
    }

    /// Writes `failure.json` (with the epoch and batch where known) and returns the error.
    private func recordFailure(_ error: Error, epoch epochReached: Int?) -> Error {
        var failure = RunFailure(error: "\(error)", epoch: epochReached, batch: nil, finishedAt: timestamp())
        if case TrainingError.nonFiniteLoss(let epoch, let batch, _) = error {
            failure.epoch = epoch
            failure.batch = batch
        }
        if let bytes = try? CanonicalJSON.encode(failure) {
            try? AtomicFile.write(bytes, to: directory.failurePath)
        }
        return error
    }
}
