import Datasets
import Foundation
import Models
import Support

/// Everything that determines one run's results. Its canonical JSON (sorted keys, every field
/// present, `null` for "no limit") is written as `config.json` and hashed into the run id.
public struct RunConfig: Codable, Hashable, Sendable {
    public var model: ModelKind = .vae
    public var latentDim = 2
    public var hiddenUnits = 256
    public var beta = 1.0
    public var seed: UInt64 = 0
    public var dataset = "mnist"
    public var epochs = 25
    public var batchSize = 128
    public var learningRate = 0.001
    /// Use only the first N training / test images (quick runs); nil = the whole split.
    public var trainLimit: Int?
    public var testLimit: Int?
    /// Importance samples per test image for the IWAE bound on the NLL (VAEs; 0 skips it).
    public var iwaeSamples = 100
    /// Neighbours for the k-NN probe on latent means.
    public var knnNeighbors = 5

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, beta, seed, dataset, epochs
        case latentDim = "latent_dim"
        case hiddenUnits = "hidden_units"
        case batchSize = "batch_size"
        case learningRate = "learning_rate"
        case trainLimit = "train_limit"
        case testLimit = "test_limit"
        case iwaeSamples = "iwae_samples"
        case knnNeighbors = "knn_neighbors"
    }

    /// Field names as they appear in JSON (for validation messages and did-you-mean).
    public static var fieldNames: [String] { CodingKeys.allCases.map(\.rawValue) }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(latentDim, forKey: .latentDim)
        try c.encode(hiddenUnits, forKey: .hiddenUnits)
        try c.encode(beta, forKey: .beta)
        try c.encode(seed, forKey: .seed)
        try c.encode(dataset, forKey: .dataset)
        try c.encode(epochs, forKey: .epochs)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encode(learningRate, forKey: .learningRate)
        try c.encode(trainLimit, forKey: .trainLimit)  // explicit null: every field is always present
        try c.encode(testLimit, forKey: .testLimit)
        try c.encode(iwaeSamples, forKey: .iwaeSamples)
        try c.encode(knnNeighbors, forKey: .knnNeighbors)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RunConfig()
        model = try c.decodeIfPresent(ModelKind.self, forKey: .model) ?? d.model
        latentDim = try c.decodeIfPresent(Int.self, forKey: .latentDim) ?? d.latentDim
        hiddenUnits = try c.decodeIfPresent(Int.self, forKey: .hiddenUnits) ?? d.hiddenUnits
        beta = try c.decodeIfPresent(Double.self, forKey: .beta) ?? d.beta
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        dataset = try c.decodeIfPresent(String.self, forKey: .dataset) ?? d.dataset
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
        trainLimit = try c.decodeIfPresent(Int.self, forKey: .trainLimit)
        testLimit = try c.decodeIfPresent(Int.self, forKey: .testLimit)
        iwaeSamples = try c.decodeIfPresent(Int.self, forKey: .iwaeSamples) ?? d.iwaeSamples
        knnNeighbors = try c.decodeIfPresent(Int.self, forKey: .knnNeighbors) ?? d.knnNeighbors
    }

    /// Range checks shared by the CLI and the spec validator: (field, what was expected) or nil.
    public func firstInvalidField() -> (field: String, expected: String)? {
        for field in Self.fieldNames { if let expected = check(field) { return (field, expected) } }
        return nil
    }

    /// What `field` should have been, if its current value is out of range.
    public func check(_ field: String) -> String? {
        func int(_ v: Int, _ range: ClosedRange<Int>) -> String? {
            range.contains(v) ? nil : "an integer in \(range.lowerBound)...\(range.upperBound), got \(v)"
        }
        switch field {
        case "latent_dim": return int(latentDim, Self.latentDimRange)
        case "hidden_units": return int(hiddenUnits, 1...65536)
        case "beta": return beta.isFinite && beta >= 0 && beta <= 1e6 ? nil : "a number in 0...1e6, got \(beta)"
        case "dataset":
            return Self.datasets.contains(dataset)
                ? nil : "one of \(Self.datasets.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(dataset)\""
        case "epochs": return int(epochs, 1...10_000)
        case "batch_size": return int(batchSize, 1...60_000)
        case "learning_rate":
            return learningRate.isFinite && learningRate > 0 && learningRate <= 10
                ? nil : "a number in (0, 10], got \(learningRate)"
        case "train_limit": return trainLimit.flatMap { $0 >= 1 ? nil : "a positive integer or null, got \($0)" }
        case "test_limit": return testLimit.flatMap { $0 >= 1 ? nil : "a positive integer or null, got \($0)" }
        case "iwae_samples": return int(iwaeSamples, 0...100_000)
        case "knn_neighbors": return int(knnNeighbors, 1...1000)
        default: return nil
        }
    }

    public static let latentDimRange = 1...4096
    public static let datasets = DatasetName.allCases.map(\.rawValue)

    /// The run's identity: a readable prefix and the first 8 hex digits of
    /// SHA-256(canonical config JSON + data fingerprint), e.g. `vae-mnist-d2-h256-b1-s0-3f9c2a1b`.
    public func runID(dataFingerprint: String) -> String {
        var prefix = "\(model.rawValue)-\(dataset)-d\(latentDim)-h\(hiddenUnits)"
        if model.hasPosterior { prefix += "-b\(Self.compact(beta))" }
        prefix += "-s\(seed)"
        let digest = sha256Hex([UInt8](canonicalJSON()) + Array(dataFingerprint.utf8))
        return "\(prefix)-\(digest.prefix(8))"
    }

    /// 1.0 -> "1", 0.25 -> "0.25".
    public static func compact(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
    }

    public var modelConfig: ModelConfig {
        ModelConfig(kind: model, latentDim: latentDim, hiddenUnits: hiddenUnits)
    }

    /// SHA-256 (hex) of the canonical JSON.
    public var hash: String { sha256Hex([UInt8](canonicalJSON())) }

    /// Sorted-key JSON, the form that is written and hashed.
    public func canonicalJSON() -> Data {
        // Encoding a plain struct of numbers and strings cannot fail.
        (try? CanonicalJSON.encoder.encode(self)) ?? Data()
    }
}
