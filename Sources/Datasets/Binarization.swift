import NeuralNet
import Support

/// Whether a run sees MNIST's grey levels or binary pixels (`binarize` run field).
///
/// Dynamic binarisation (as in the IWAE paper's MNIST numbers): every training epoch draws each
/// pixel x ~ Bernoulli(grey level) afresh, from the run's `binarize` stream; the test set (and
/// the training images the k-NN probe encodes) are binarised once, from a fixed stream that no
/// run seed touches, so every run is evaluated on the same binary images.
public enum Binarization: String, Codable, CaseIterable, Sendable {
    /// The grey levels / 255, continuous in [0, 1] (the reference study's).
    case none
    case dynamic

    /// The seed of the fixed stream of the evaluation images.
    public static let evaluationSeed: UInt64 = 2016

    /// The data fingerprint of a run: the files' own, plus how their evaluation images were
    /// binarised (a different procedure is different data, so a different run id).
    public func fingerprint(_ files: String) -> String {
        switch self {
        case .none: return files
        case .dynamic:
            let text = "\(files)\nbinarize=dynamic;evaluation=xoshiro256(\(Self.evaluationSeed), binarize)"
            return sha256Hex(Array(text.utf8))
        }
    }

    /// The images a run with this setting is evaluated on (and its figures show).
    public func evaluationImages(_ split: DatasetSplit) -> DatasetSplit {
        self == .dynamic ? split.binarizedForEvaluation() : split
    }

    /// Replaces each of `count` grey levels p in place by 1 with probability p, else 0.
    public static func sample(_ x: UnsafeMutablePointer<Float>, count: Int, rng: inout Xoshiro256) {
        for i in 0..<count { x[i] = rng.uniform() < x[i] ? 1 : 0 }
    }
}

extension DatasetSplit {
    /// The split binarised once from the fixed evaluation stream (pixels 0 or 255).
    public func binarizedForEvaluation() -> DatasetSplit {
        var rng = Xoshiro256(seed: Binarization.evaluationSeed, stream: .binarize)
        let binary = pixels.map { p -> UInt8 in rng.uniform() < Float(p) / 255 ? 255 : 0 }
        return DatasetSplit(pixels: binary, labels: labels, count: count, rows: rows, cols: cols)
    }
}
