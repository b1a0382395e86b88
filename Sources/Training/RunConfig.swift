import Foundation
import Models
import Datasets

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
        case latentDim = "latent_dim", hiddenUnits = "hidden_units", batchSize = "batch_size"
        case learningRate = "learning_rate", trainLimit = "train_limit", testLimit = "test_limit"
        case iwaeSamples = "iwae_samples", knnNeighbors = "knn_neighbors"
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
        try c.encode(trainLimit, forKey: .trainLimit)   // explicit null: every field is always present
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
        if latentDim < 1 || latentDim > 4096 { return ("latent_dim", "an integer in 1...4096, got \(latentDim)") }
        if hiddenUnits < 1 || hiddenUnits > 65536 { return ("hidden_units", "an integer in 1...65536, got \(hiddenUnits)") }
        if !(beta.isFinite && beta >= 0 && beta <= 1e6) { return ("beta", "a number in 0...1e6, got \(beta)") }
        if !["mnist", "fashion-mnist"].contains(dataset) { return ("dataset", "\"mnist\" or \"fashion-mnist\", got \"\(dataset)\"") }
        if epochs < 1 || epochs > 10_000 { return ("epochs", "an integer in 1...10000, got \(epochs)") }
        if batchSize < 1 || batchSize > 60_000 { return ("batch_size", "an integer in 1...60000, got \(batchSize)") }
        if !(learningRate.isFinite && learningRate > 0 && learningRate <= 10) {
            return ("learning_rate", "a number in (0, 10], got \(learningRate)")
        }
        if let t = trainLimit, t < 1 { return ("train_limit", "a positive integer or null, got \(t)") }
        if let t = testLimit, t < 1 { return ("test_limit", "a positive integer or null, got \(t)") }
        if iwaeSamples < 0 || iwaeSamples > 100_000 { return ("iwae_samples", "an integer in 0...100000, got \(iwaeSamples)") }
        if knnNeighbors < 1 || knnNeighbors > 1000 { return ("knn_neighbors", "an integer in 1...1000, got \(knnNeighbors)") }
        return nil
    }

    /// The run's identity: a readable prefix and the first 8 hex digits of
    /// SHA-256(canonical config JSON + data fingerprint), e.g. `vae-mnist-d2-h256-b1-s0-3f9c2a1b`.
    public func runID(dataFingerprint: String) -> String {
        var prefix = "\(model.rawValue)-\(dataset)-d\(latentDim)-h\(hiddenUnits)"
        if model == .vae { prefix += "-b\(Self.compact(beta))" }
        prefix += "-s\(seed)"
        let digest = sha256Hex([UInt8](canonicalJSON()) + Array(dataFingerprint.utf8))
        return "\(prefix)-\(digest.prefix(8))"
    }

    /// 1.0 -> "1", 0.25 -> "0.25".
    static func compact(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
    }

    public var modelConfig: ModelConfig {
        ModelConfig(kind: model, latentDim: latentDim, hiddenUnits: hiddenUnits)
    }

    /// Sorted-key JSON, the form that is written and hashed.
    public func canonicalJSON() -> Data {
        // Encoding a plain struct of numbers and strings cannot fail.
        (try? CanonicalJSON.encoder.encode(self)) ?? Data()
    }
}

/// One JSON style for every file vaelab writes: sorted keys, two-space indentation via
/// `.prettyPrinted`, no escaped slashes, trailing newline added by the writer.
public enum CanonicalJSON {
    public static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        var data = try encoder.encode(value)
        data.append(0x0A)
        return data
    }
}
