import Foundation

/// Recon, KL and total loss, each in nats per image: Bernoulli cross-entropy summed over the
/// 784 continuous [0, 1] pixels, KL summed over latent dimensions, both averaged over images;
/// total = recon + beta * KL. `kl` is nil for the deterministic AE (not applicable).
/// Not comparable with likelihoods on binarised MNIST in the literature.
public struct LossSummary: Codable, Sendable, Equatable {
    public var recon: Double
    public var kl: Double?
    public var total: Double
    public init(recon: Double, kl: Double?, total: Double) {
        self.recon = recon
        self.kl = kl
        self.total = total
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(recon, forKey: .recon)
        try c.encode(kl, forKey: .kl)  // explicit null for the AE
        try c.encode(total, forKey: .total)
    }
}

/// One epoch's record: train averages over the epoch's batches, test averages over the test set.
public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    public var train: LossSummary
    public var test: LossSummary
}

/// End-of-run evaluation on the test set (see `Evaluation`).
public struct FinalMetrics: Codable, Sendable, Equatable {
    /// Selection rule: the last epoch's train averages and test evaluation.
    public var train: LossSummary
    public var test: LossSummary
    /// Importance-sampled bound on the test negative log-likelihood (nats per image); VAE only.
    public var testNLLBound: Double?
    /// Its standard error over the test images; written for binarised runs only (the ones the
    /// report sets beside the literature), so earlier runs' bytes never change.
    public var testNLLStandardError: Double?
    public var iwaeSamples: Int?
    /// Latent dimensions whose posterior-mean variance over the test set exceeds `activeUnitThreshold`.
    public var activeUnits: Int?
    public var activeUnitThreshold: Double
    /// Mean KL per latent dimension over the test set (nats); VAE only.
    public var klPerDimension: [Double]?
    /// Variance of each latent mean (or AE code) over the test set.
    public var latentVariance: [Double]
    /// Test accuracy of a k-nearest-neighbour classifier on latent means, fitted on train latents.
    public var knnAccuracy: Double
    public var knnNeighbors: Int

    enum CodingKeys: String, CodingKey {
        case train, test
        case testNLLBound = "test_nll_iwae"
        case testNLLStandardError = "test_nll_iwae_stderr"
        case iwaeSamples = "iwae_samples"
        case activeUnits = "active_units"
        case activeUnitThreshold = "active_unit_threshold"
        case klPerDimension = "kl_per_dimension"
        case latentVariance = "latent_variance"
        case knnAccuracy = "knn_accuracy"
        case knnNeighbors = "knn_neighbors"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(train, forKey: .train)
        try c.encode(test, forKey: .test)
        try c.encode(testNLLBound, forKey: .testNLLBound)
        try c.encodeIfPresent(testNLLStandardError, forKey: .testNLLStandardError)
        try c.encode(iwaeSamples, forKey: .iwaeSamples)
        try c.encode(activeUnits, forKey: .activeUnits)
        try c.encode(activeUnitThreshold, forKey: .activeUnitThreshold)
        try c.encode(klPerDimension, forKey: .klPerDimension)
        try c.encode(latentVariance, forKey: .latentVariance)
        try c.encode(knnAccuracy, forKey: .knnAccuracy)
        try c.encode(knnNeighbors, forKey: .knnNeighbors)
    }
}

/// `metrics.json`: deterministic values only (no timings, no timestamps), so the same config and
/// seed give the same bytes.
public struct RunMetrics: Codable, Sendable, Equatable {
    public static let currentFormat = "vaelab.metrics/1"
    public var format = RunMetrics.currentFormat
    public var units =
        "nats per image: BCE summed over 784 continuous pixels, KL summed over latent dims, mean over images"
    /// SHA-256 (hex) of the canonical config.json this run was trained with.
    public var configHash: String
    /// SHA-256 fingerprint of the dataset files' decompressed content.
    public var dataFingerprint: String
    public var epochs: [EpochRecord]
    public var final: FinalMetrics

    enum CodingKeys: String, CodingKey {
        case format, units, epochs, final
        case configHash = "config_hash"
        case dataFingerprint = "data_fingerprint"
    }
}

/// `timing.json`: wall times and provenance (varies between machines and runs).
public struct RunTiming: Codable, Sendable {
    /// Wall time of the run: this process's, plus the epochs of earlier processes when it resumed.
    public var totalSeconds: Double
    public var trainSeconds: Double
    public var evaluationSeconds: Double
    public var epochSeconds: [Double]
    public var trainImagesPerSecond: Double
    public var peakResidentMB: Double
    public var startedAt: String
    public var finishedAt: String
    public var provenance: Provenance
    /// SHA-256 of metrics.json as written, so later edits are detected.
    public var metricsSHA256: String?

    enum CodingKeys: String, CodingKey {
        case provenance
        case metricsSHA256 = "metrics_sha256"
        case totalSeconds = "total_seconds"
        case trainSeconds = "train_seconds"
        case evaluationSeconds = "evaluation_seconds"
        case epochSeconds = "epoch_seconds"
        case trainImagesPerSecond = "train_images_per_second"
        case peakResidentMB = "peak_resident_mb"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }
}
