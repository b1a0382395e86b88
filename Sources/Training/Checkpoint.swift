import Datasets
import Foundation
import NeuralNet
import Support

/// A checkpoint that cannot be used; one line naming the file.
public struct CheckpointError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): unusable checkpoint: \(reason)" }
}

/// Epoch checkpoints: everything a trainer needs to continue exactly where it stopped, so a
/// resumed run's metrics.json is byte-identical to an uninterrupted one's.
///
/// A safetensors file: the model's parameters under their names, Adam's moments as
/// `optimizer.m` / `optimizer.v` (flat, in parameter order), and in `__metadata__` the format,
/// the config hash, Adam's step, the three RNG states (hex words), the epoch records so far (JSON)
/// and the time spent so far.
extension Trainer {
    static let checkpointFormat = "vaelab.checkpoint/1"

    public func saveCheckpoint(to path: String) throws {
        var tensors = model.store.namedTensors
        tensors.append(
            NamedTensor(
                name: "optimizer.m", shape: [adam.count],
                values: Array(UnsafeBufferPointer(start: adam.m, count: adam.count))))
        tensors.append(
            NamedTensor(
                name: "optimizer.v", shape: [adam.count],
                values: Array(UnsafeBufferPointer(start: adam.v, count: adam.count))))
        var metadata: [String: String] = [
            "format": Self.checkpointFormat,
            "config_hash": config.hash,
            "data_fingerprint": dataFingerprint,
            "adam_step": String(adam.step),
            "rng_shuffle": Self.hexWords(shuffle.stateWords),
            "rng_noise": Self.hexWords(noise.stateWords),
            "rng_eval": Self.hexWords(evalRNG.stateWords),
            "records": String(decoding: try CanonicalJSON.encoder.encode(records), as: UTF8.self),
            "epoch_seconds": epochSeconds.map { String($0) }.joined(separator: ","),
            "train_seconds": String(trainSeconds),
        ]
        if let binarizeRNG { metadata["rng_binarize"] = Self.hexWords(binarizeRNG.stateWords) }
        try SafeTensors.write(tensors, metadata: metadata, to: path)
    }

    /// Restores the state saved by `saveCheckpoint`. Throws if the file is corrupt or belongs to
    /// another config or dataset; nothing is changed then.
    public func restoreCheckpoint(from path: String) throws {
        func bad(_ reason: String) -> CheckpointError { CheckpointError(path: path, reason: reason) }
        let (tensors, meta) = try SafeTensors.read(path: path)
        guard meta["format"] == Self.checkpointFormat else {
            throw bad("format is \(meta["format"] ?? "missing"), expected \(Self.checkpointFormat)")
        }
        guard meta["config_hash"] == config.hash else { throw bad("it was written for another config") }
        guard meta["data_fingerprint"] == dataFingerprint else {
            throw bad("it was written for other data")
        }
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        if let name = model.store.firstMismatch(in: byName) {
            throw bad("tensor \(name) missing or of the wrong shape")
        }
        guard let m = byName["optimizer.m"], let v = byName["optimizer.v"], m.values.count == adam.count,
            v.values.count == adam.count
        else { throw bad("optimizer state missing or of the wrong size") }
        guard let stepText = meta["adam_step"], let step = Int(stepText), step >= 0,
            let s1 = Self.words(meta["rng_shuffle"]), let s2 = Self.words(meta["rng_noise"]),
            let s3 = Self.words(meta["rng_eval"]),
            let recordsText = meta["records"],
            let restored = try? JSONDecoder().decode([EpochRecord].self, from: Data(recordsText.utf8)),
            restored.count <= config.epochs, restored.enumerated().allSatisfy({ $0.element.epoch == $0.offset + 1 }),
            let trainTime = Double(meta["train_seconds"] ?? "")
        else { throw bad("metadata missing or malformed") }
        let binarizeState = Self.words(meta["rng_binarize"])
        guard (binarizeState != nil) == (binarizeRNG != nil) else { throw bad("binarisation state missing") }
        let seconds = (meta["epoch_seconds"] ?? "").split(separator: ",").compactMap { Double($0) }
        // Everything validated: apply.
        model.store.load(byName)
        adam.restore(step: step, m: m.values, v: v.values)
        shuffle = Xoshiro256(state: s1)
        noise = Xoshiro256(state: s2)
        evalRNG = Xoshiro256(state: s3)
        binarizeRNG = binarizeState.map { Xoshiro256(state: $0) }
        records = restored
        epochSeconds = seconds.count == restored.count ? seconds : Array(repeating: 0, count: restored.count)
        trainSeconds = trainTime
    }

    static func hexWords(_ words: [UInt64]) -> String { words.map { String($0, radix: 16) }.joined(separator: ",") }

    static func words(_ text: String?) -> [UInt64]? {
        guard let parts = text?.split(separator: ","), parts.count == 4 else { return nil }
        let w = parts.compactMap { UInt64($0, radix: 16) }
        return w.count == 4 && w.contains(where: { $0 != 0 }) ? w : nil
    }
}

extension Trainer {
    /// How many epochs the checkpoint at `path` holds, or nil when it cannot be read.
    public static func checkpointEpochs(at path: String) -> Int? {
        guard let (_, metadata) = try? SafeTensors.read(path: path), let text = metadata["records"],
            let records = try? JSONDecoder().decode([EpochRecord].self, from: Data(text.utf8))
        else { return nil }
        return records.count
    }
}
