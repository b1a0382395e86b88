import ArgumentParser
import Datasets
import Experiments
import Foundation
import Models
import NeuralNet
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract:
            "Train and evaluate one run from flags, writing config.json, metrics.json, timing.json and model.safetensors."
    )

    @Option(help: "Model: vae or ae.") var model: ModelKind = .vae
    @Option(help: "Latent dimension d.") var latentDim = 2
    @Option(help: "Hidden units H of the encoder's dense layer.") var hiddenUnits = 256
    @Option(help: "Weight of the KL term (beta-VAE).") var beta = 1.0
    @Option(help: "Run seed (all random streams derive from it).") var seed: UInt64 = 0
    @Option(help: "Training epochs.") var epochs = 25
    @Option(help: "Images per batch.") var batchSize = 128
    @Option(help: "Adam learning rate.") var learningRate = 0.001
    @Option(help: "Dataset: mnist or fashion-mnist.") var dataset = "mnist"
    @Option(help: "Use only the first N training images.") var trainLimit: Int?
    @Option(help: "Use only the first N test images.") var testLimit: Int?
    @Option(help: "Importance samples for the NLL bound (0 skips it).") var iwaeSamples = 100
    @Option(help: "Neighbours of the k-NN probe.") var knnNeighbors = 5
    @Option(help: "Directory holding the dataset files (default: $VAELAB_DATA_DIR, ./data/<dataset>).") var dataDir:
        String?
    @Option(
        help:
            "Threads for this run: each training and evaluation batch is split across them (one BLAS thread each). Metrics depend on it (float rounding); `vaelab run` always uses 1."
    ) var threads = 1
    @Option(help: "Output directory (default: results/runs/<run-id>).") var out: String?

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
            guard case .trained(let trained, let figureError) = outcome else {
                FileHandle.standardError.write(
                    Data("vaelab train: \(out) is being trained by another vaelab process\n".utf8))
                throw ExitCode(3)
            }
            if let figureError {
                FileHandle.standardError.write(Data("vaelab train: figures not drawn: \(figureError)\n".utf8))
            }
            let f = trained.metrics.final
            var line = "done in \(fixed(trained.timing.totalSeconds, 1)) s: test recon \(fixed(f.test.recon, 2))"
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
