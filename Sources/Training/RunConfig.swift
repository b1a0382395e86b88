import Datasets
import Foundation
import Models
import NeuralNet
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
    /// The decoder's pixel likelihood (Bernoulli, the reference study's, or continuous Bernoulli).
    public var likelihood = Likelihood.bernoulli
    /// Posterior samples per image in a training step: the IWAE's k (1 for the other models).
    public var trainSamples = 1
    /// Grey levels, or dynamically binarised pixels (`Binarization`).
    public var binarize = Binarization.none

    public init() {}

    /// Field names as they appear in JSON (for validation messages and did-you-mean).
    public static var fieldNames: [String] { RunField.keys }

    struct Key: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    /// Every field (`null` for an absent limit), except those added later while they hold their
    /// default: the bytes, and so the run ids, of earlier runs never change.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for field in RunField.all where field.isWritten(for: self) {
            let key = Key(stringValue: field.key)
            switch field.value(of: self) {
            case .integer(let n): try c.encode(n, forKey: key)
            case .unsigned(let n): try c.encode(n, forKey: key)
            case .number(let x): try c.encode(x, forKey: key)
            case .text(let s): try c.encode(s, forKey: key)
            case .null: try c.encodeNil(forKey: key)
            }
        }
    }

    /// Absent (or null) fields take their defaults; unknown keys are ignored.
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: Key.self)
        for field in RunField.all {
            let key = Key(stringValue: field.key)
            let value: FieldValue?
            switch field.type {
            case .integer, .positiveOrNull: value = try c.decodeIfPresent(Int.self, forKey: key).map { .integer($0) }
            case .seed: value = try c.decodeIfPresent(UInt64.self, forKey: key).map { .unsigned($0) }
            case .number: value = try c.decodeIfPresent(Double.self, forKey: key).map { .number($0) }
            case .choice: value = try c.decodeIfPresent(String.self, forKey: key).map { .text($0) }
            }
            if let value, !field.assign(value, to: &self) {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c, debugDescription: "\(field.key): not a valid value")
            }
        }
    }

    /// Range checks shared by the CLI and the spec validator: (field, what was expected) or nil.
    public func firstInvalidField() -> (field: String, expected: String)? {
        for field in RunField.all { if let expected = field.check(self) { return (field.key, expected) } }
        return combinationProblem()
    }

    /// Fields whose values are in range but do not go together.
    public func combinationProblem() -> (field: String, expected: String)? {
        if model == .iwae && beta != 1 {
            return ("beta", "1 for model \"iwae\" (its bound has no KL weight), got \(Self.compact(beta))")
        }
        if model != .iwae && trainSamples != 1 {
            return (
                "train_samples",
                "1 for model \"\(model.rawValue)\" (only \"iwae\" takes k samples), got \(trainSamples)"
            )
        }
        if batchSize * trainSamples > Self.maxDecoderRows {
            return (
                "train_samples",
                """
                at most \(Self.maxDecoderRows / batchSize) with batch_size \(batchSize) (a step decodes batch_size x k \
                codes at once, at most \(Self.maxDecoderRows): about 5 GB of activations), got \(trainSamples)
                """
            )
        }
        return nil
    }

    /// Codes one training step may decode at once (batch_size x train_samples), ~300 KB of
    /// activations and gradients each.
    public static let maxDecoderRows = 16_384

    /// What `field` should have been, if its current value is out of range.
    public func check(_ field: String) -> String? { RunField.named(field)?.check(self) }

    public static let latentDimRange = 1...4096
    public static let datasets = DatasetName.allCases.map(\.rawValue)

    /// The run's identity: a readable prefix and the first 8 hex digits of
    /// SHA-256(canonical config JSON + data fingerprint), e.g. `vae-mnist-d2-h256-b1-s0-3f9c2a1b`
    /// (`-bin` follows a binarised dataset; `-k5` for the IWAE's samples and `-cb` for the
    /// continuous Bernoulli go before the seed).
    public func runID(dataFingerprint files: String) -> String {
        var prefix = "\(model.rawValue)-\(dataset)\(binarize == .dynamic ? "-bin" : "")-d\(latentDim)-h\(hiddenUnits)"
        if model.hasPosterior { prefix += "-b\(Self.compact(beta))" }
        if model == .iwae { prefix += "-k\(trainSamples)" }
        if likelihood == .continuousBernoulli { prefix += "-cb" }
        prefix += "-s\(seed)"
        let digest = sha256Hex([UInt8](canonicalJSON()) + Array(dataFingerprint(files).utf8))
        return "\(prefix)-\(digest.prefix(8))"
    }

    /// This run's data fingerprint from its files' (`datasetFingerprint`): the same unless the
    /// run binarises, which records how (`Binarization.fingerprint`).
    public func dataFingerprint(_ files: String) -> String { binarize.fingerprint(files) }

    /// 1.0 -> "1", 0.25 -> "0.25".
    public static func compact(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
    }

    public var modelConfig: ModelConfig {
        ModelConfig(
            kind: model, latentDim: latentDim, hiddenUnits: hiddenUnits, trainSamples: trainSamples,
            likelihood: likelihood)
    }

    /// SHA-256 (hex) of the canonical JSON.
    public var hash: String { sha256Hex([UInt8](canonicalJSON())) }

    /// Sorted-key JSON, the form that is written and hashed.
    public func canonicalJSON() -> Data {
        // Encoding a plain struct of numbers and strings cannot fail.
        (try? CanonicalJSON.encoder.encode(self)) ?? Data()
    }
}
