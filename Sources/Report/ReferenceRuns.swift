import Foundation
import Training

/// A run of an independent implementation of the same model and protocol, trained from that
/// implementation's own random draws: `results/pytorch/*.json`, written by
/// `Tests/GoldenTests/seeds.py` (the PyTorch reference of the golden test). The report puts
/// them beside vaelab's runs of the same configuration, seed by seed.
public struct ReferenceRun: Decodable, Sendable {
    public struct Config: Decodable, Sendable {
        public var model: String
        public var latentDim: Int
        public var hiddenUnits: Int
        public var beta: Double
        public var seed: UInt64
        public var epochs: Int
        public var batchSize: Int
        public var learningRate: Double

        enum CodingKeys: String, CodingKey {
            case model, beta, seed, epochs
            case latentDim = "latent_dim"
            case hiddenUnits = "hidden_units"
            case batchSize = "batch_size"
            case learningRate = "learning_rate"
        }
    }

    public struct Final: Decodable, Sendable {
        public struct Losses: Decodable, Sendable { public var recon, kl, total: Double }
        public var test: Losses
        public var activeUnits: Int

        enum CodingKeys: String, CodingKey {
            case test
            case activeUnits = "active_units"
        }
    }

    /// Names the implementation and its version ("PyTorch 2.13.0+cpu (...)").
    public var implementation: String
    public var config: Config
    public var final: Final

    /// Whether this run follows `run`'s protocol (full MNIST splits), whatever the seed.
    public func matches(_ run: RunConfig) -> Bool {
        config.model == run.model.rawValue && config.latentDim == run.latentDim && config.hiddenUnits == run.hiddenUnits
            && config.beta == run.beta && config.epochs == run.epochs && config.batchSize == run.batchSize
            && config.learningRate == run.learningRate && run.dataset == "mnist" && run.trainLimit == nil
            && run.testLimit == nil
    }

    /// The implementation's short name: its first word ("PyTorch").
    public var implementationName: String { String(implementation.split(separator: " ").first ?? "reference") }

    /// Every `*.json` in `directory` (none when it does not exist), sorted by file name; a file
    /// that is not a reference run is one `ReportError` naming it.
    public static func readAll(directory: String) throws -> [ReferenceRun] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return try names.filter { $0.hasSuffix(".json") }.sorted().map { name in
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ReportError(file: path, message: "cannot read the file")
            }
            do { return try JSONDecoder().decode(ReferenceRun.self, from: data) } catch {
                throw ReportError(file: path, message: "not a reference run (\(ResultsTree.describe(error)))")
            }
        }
    }
}
