import ArgumentParser
import Datasets
import Experiments
import Foundation
import Models
import NeuralNet
import Support
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract:
            """
            Train and evaluate one run from flags, writing config.json, metrics.json, timing.json and \
            model.safetensors.
            """,
        discussion: """
            Every run field is a flag (vaelab help spec lists them); the run id, and so the \
            default --out, follows from their values as in a spec.

            Examples:
              vaelab train --latent-dim 16 --epochs 2 --train-limit 3000 --test-limit 500
              vaelab train --model iwae --train-samples 5 --binarize dynamic --threads 2
            """
    )

    // One flag per run field: help and defaults come from `RunField.all` and `RunConfig`.
    @Option(help: help("model")) var model = defaults.model
    @Option(help: help("latent_dim")) var latentDim = defaults.latentDim
    @Option(help: help("hidden_units")) var hiddenUnits = defaults.hiddenUnits
    @Option(help: help("beta")) var beta = defaults.beta
    @Option(help: help("seed")) var seed = defaults.seed
    @Option(help: help("epochs")) var epochs = defaults.epochs
    @Option(help: help("batch_size")) var batchSize = defaults.batchSize
    @Option(help: help("learning_rate")) var learningRate = defaults.learningRate
    @Option(help: help("dataset")) var dataset = defaults.dataset
    @Option(help: help("train_limit", "all")) var trainLimit: Int?
    @Option(help: help("test_limit", "all")) var testLimit: Int?
    @Option(help: help("iwae_samples")) var iwaeSamples = defaults.iwaeSamples
    @Option(help: help("knn_neighbors")) var knnNeighbors = defaults.knnNeighbors
    @Option(help: help("likelihood")) var likelihood = defaults.likelihood
    @Option(help: help("train_samples")) var trainSamples = defaults.trainSamples
    @Option(help: help("binarize")) var binarize = defaults.binarize
    @Option(help: "Directory holding the dataset files (default: $VAELAB_DATA_DIR, ./data/<dataset>).") var dataDir:
        String?
    @Option(
        help:
            """
            Threads for this run: each training and evaluation batch is split across them (one BLAS thread each). \
            Metrics depend on it (float rounding); `vaelab run` always uses 1.
            """
    ) var threads = 1
    @Option(help: "Output directory (default: results/runs/<run-id>).") var out: String?

    private static let defaults = RunConfig()
    /// The field's help; `unset` says what leaving out a flag without a default means.
    private static func help(_ key: String, _ unset: String? = nil) -> ArgumentHelp {
        ArgumentHelp((RunField.named(key)?.help ?? "") + (unset.map { " (default: \($0))" } ?? ""))
    }

    var runConfig: RunConfig {
        var c = RunConfig()
        c.model = model
        c.latentDim = latentDim
        c.hiddenUnits = hiddenUnits
        c.beta = beta
        c.seed = seed
        c.epochs = epochs
        c.batchSize = batchSize
        c.learningRate = learningRate
        c.dataset = dataset
        c.trainLimit = trainLimit
        c.testLimit = testLimit
        c.iwaeSamples = iwaeSamples
        c.knnNeighbors = knnNeighbors
        c.likelihood = likelihood
        c.trainSamples = trainSamples
        c.binarize = binarize
        return c
    }

    func validate() throws {
        if let (field, expected) = runConfig.firstInvalidField() {
            throw ValidationError("--\(field.replacingOccurrences(of: "_", with: "-")): expected \(expected)")
        }
        if !(1...DataParallelStep.maxWorkers).contains(threads) {
            throw ValidationError(
                "--threads: expected an integer in 1...\(DataParallelStep.maxWorkers), got \(threads)")
        }
    }

    func run() throws {
        let policy = ExecutionPolicy(threadsPerRun: threads)
        policy.apply()
        StopRequest.install(onFirst: announceStop)
        let config = runConfig
        do {
            guard let name = DatasetName(rawValue: config.dataset) else {
                throw ValidationError("unknown dataset \(config.dataset)")
            }
            let data = try loadDataset(
                name, directory: dataDir, trainLimit: config.trainLimit, testLimit: config.testLimit)
            let out = self.out ?? "results/runs/" + config.runID(dataFingerprint: datasetFingerprint(data.checksums))
            let id = (out as NSString).lastPathComponent
            var job = RunJob(id: id, config: config, directory: RunDirectory(out))
            job.policy = policy
            job.skipIfFinished = false  // `train` always trains; an unfinished run resumes
            let progress = ProgressPrinter(label: id, epochs: config.epochs)
            let outcome = try job.execute(
                data: data,
                onStart: { resumed in
                    if resumed > 0 {
                        FileHandle.standardError.write(Data("\(id): resuming after epoch \(resumed)\n".utf8))
                    }
                },
                onEvent: progress.handle)
            if case .interrupted(let reason) = outcome, let signal = StopRequest.signal {
                FileHandle.standardError.write(Data("vaelab train: \(reason)\n".utf8))
                throw ExitCode(128 + signal)
            }
            guard case .trained(let trained, let figureError) = outcome else {
                FileHandle.standardError.write(
                    Data("vaelab train: \(out) is being trained by another vaelab process\n".utf8))
                throw ExitCode(3)
            }
            if let figureError {
                FileHandle.standardError.write(Data("vaelab train: figures not drawn: \(figureError)\n".utf8))
            }
            let f = trained.metrics.final
            var line = "done in \(readableDuration(trained.timing.totalSeconds)): test recon \(fixed(f.test.recon, 2))"
            if let kl = f.test.kl { line += " kl \(fixed(kl, 2))" }
            line += " total \(fixed(f.test.total, 2))"
            if let nll = f.testNLLBound { line += ", NLL <= \(fixed(nll, 2))" }
            line += ", kNN acc \(fixed(100 * f.knnAccuracy, 1))% -> \(out)"
            FileHandle.standardError.write(Data((line + "\n").utf8))
        } catch let error as ValidationError {
            throw error
        } catch let error as ExitCode {
            throw error
        } catch {
            throw CleanExit.failure("vaelab train: \(error)")
        }
    }
}

extension ModelKind: ExpressibleByArgument {}
extension Likelihood: ExpressibleByArgument {}
extension Binarization: ExpressibleByArgument {}
