import Foundation
import NeuralNet
import Datasets

/// The files of one run directory (`results/runs/<run-id>/` or `vaelab train --out DIR`):
/// config.json, metrics.json, timing.json, model.safetensors. `metrics.json` is written last,
/// atomically: its presence (with a matching config hash) marks a finished run.
public struct RunDirectory: Sendable {
    public let path: String
    public init(_ path: String) { self.path = path }

    public var configPath: String { path + "/config.json" }
    public var metricsPath: String { path + "/metrics.json" }
    public var timingPath: String { path + "/timing.json" }
    public var weightsPath: String { path + "/model.safetensors" }

    /// Creates the directory and writes `config.json`.
    public func begin(_ config: RunConfig) throws {
        try AtomicFile.makeDirectory(path)
        try AtomicFile.write(config.canonicalJSON() + Data([0x0A]), to: configPath)
    }

    /// Writes the weights, the timing and, last, the metrics.
    public func finish(_ run: TrainedRun, config: RunConfig) throws {
        let tensors = run.model.store.named.map { name, p in NamedTensor(name: name, shape: p.value.shape, values: p.value.array) }
        let metadata = [
            "format": "vaelab.model/1",
            "config": String(decoding: config.canonicalJSON(), as: UTF8.self),
            "config_hash": run.metrics.configHash,
        ]
        try SafeTensors.write(tensors, metadata: metadata, to: weightsPath)
        try AtomicFile.write(CanonicalJSON.encode(run.timing), to: timingPath)
        try AtomicFile.write(CanonicalJSON.encode(run.metrics), to: metricsPath)
    }
}
