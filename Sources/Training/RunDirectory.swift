import Datasets
import Foundation
import NeuralNet
import Support

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
    public var checkpointPath: String { path + "/checkpoint.safetensors" }
    public var failurePath: String { path + "/failure.json" }
    /// PNG figures drawn from the trained model (see `RunFigures`).
    public var figuresPath: String { path + "/figures" }

    /// Creates the directory and writes `config.json`.
    public func begin(_ config: RunConfig) throws {
        try AtomicFile.makeDirectory(path)
        try AtomicFile.write(config.canonicalJSON() + Data([0x0A]), to: configPath)
    }

    /// Writes the weights, the timing (with the metrics file's SHA-256) and, last, the metrics;
    /// then removes the checkpoint and any failure record.
    public func finish(_ run: TrainedRun, config: RunConfig) throws {
        let metricsBytes = [UInt8](try CanonicalJSON.encode(run.metrics))
        var timing = run.timing
        timing.metricsSHA256 = sha256Hex(metricsBytes)
        let tensors = run.model.store.namedTensors
        let metadata = [
            "format": "vaelab.model/1",
            "config": String(decoding: config.canonicalJSON(), as: UTF8.self),
            "config_hash": run.metrics.configHash,
        ]
        try SafeTensors.write(tensors, metadata: metadata, to: weightsPath)
        try AtomicFile.write(CanonicalJSON.encode(timing), to: timingPath)
        try AtomicFile.write(metricsBytes, to: metricsPath)
        try? FileManager.default.removeItem(atPath: checkpointPath)
        try? FileManager.default.removeItem(atPath: failurePath)
    }

    /// A finished run's metrics that cannot be trusted.
    public struct MetricsProblem: Error { public let reason: String }

    /// Reads metrics.json and checks that it is complete, unmodified (its SHA-256 is recorded in
    /// timing.json) and made from this config and data (`dataFingerprint`: the files',
    /// `datasetFingerprint`; the config adds its binarisation).
    public func verifyMetrics(config: RunConfig, dataFingerprint: String) -> Result<RunMetrics, MetricsProblem> {
        func problem(_ s: String) -> Result<RunMetrics, MetricsProblem> { .failure(MetricsProblem(reason: s)) }
        guard let bytes = FileManager.default.contents(atPath: metricsPath) else {
            return problem("metrics.json is unreadable")
        }
        guard let metrics = try? JSONDecoder().decode(RunMetrics.self, from: bytes) else {
            return problem("metrics.json is not a complete metrics file")
        }
        guard metrics.format == RunMetrics.currentFormat else {
            return problem("metrics.json has format \(metrics.format)")
        }
        guard metrics.configHash == config.hash else { return problem("metrics.json was made with another config") }
        guard metrics.dataFingerprint == config.dataFingerprint(dataFingerprint) else {
            return problem("metrics.json was made with other data")
        }
        guard metrics.epochs.count == config.epochs else {
            return problem("metrics.json has \(metrics.epochs.count) of \(config.epochs) epochs")
        }
        if let timingBytes = FileManager.default.contents(atPath: timingPath) {
            // A damaged timing.json would switch the edit check off: not accepted either.
            guard let timing = try? JSONDecoder().decode(RunTiming.self, from: timingBytes) else {
                return problem("timing.json is damaged, so metrics.json cannot be checked")
            }
            if let recorded = timing.metricsSHA256, recorded != sha256Hex([UInt8](bytes)) {
                return problem(
                    "metrics.json was modified after the run (its SHA-256 differs from the one in timing.json)")
            }
        }
        return .success(metrics)
    }
}
