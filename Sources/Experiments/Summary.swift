import Foundation
import Models
import NeuralNet
import Support
import Training

/// `results/studies/<name>.json`: which runs make up a study, recorded when the spec is run.
public struct StudyRecord: Codable, Sendable, Equatable {
    public static let currentFormat = "vaelab.study/1"
    public var format = StudyRecord.currentFormat
    public var name: String
    public var description: String
    public var specFile: String
    public var specSHA256: String
    public var runs: [Entry]

    public struct Entry: Codable, Sendable, Equatable {
        public var id: String
        public var origin: String
        public var config: RunConfig
    }

    enum CodingKeys: String, CodingKey {
        case format, name, description, runs
        case specFile = "spec_file"
        case specSHA256 = "spec_sha256"
    }
}

/// Mean, sample standard deviation (nil for n = 1) and count of one metric over seeds.
public struct Statistic: Codable, Sendable, Equatable {
    public var mean: Double
    public var std: Double?
    public var n: Int

    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        n = values.count
        let m = values.reduce(0, +) / Double(n)
        mean = Summary.round(m)
        if n > 1 {
            let v = values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)
            std = Summary.round(v.squareRoot())
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mean, forKey: .mean)
        try c.encode(std, forKey: .std)
        try c.encode(n, forKey: .n)
    }
}

/// One configuration group: the runs of a study that differ only by seed.
public struct GroupSummary: Codable, Sendable, Equatable {
    public var label: String
    /// The configuration the group's runs share (its seed is 0). summary.json lists every field
    /// but the seed, as text.
    public var config: RunConfig
    public var seeds: [UInt64]
    public var runIDs: [String]
    public var done: Int
    public var missing: Int
    public var failed: Int
    /// Metric name -> statistic over the group's finished runs; names as in metrics.json's
    /// `final` (train_*/test_* for the loss parts).
    public var metrics: [String: Statistic]

    enum CodingKeys: String, CodingKey {
        case label, config, seeds, done, missing, failed, metrics
        case runIDs = "run_ids"
    }

    public init(
        label: String, config: RunConfig, seeds: [UInt64], runIDs: [String], done: Int, missing: Int, failed: Int,
        metrics: [String: Statistic]
    ) {
        (self.label, self.config, self.seeds, self.runIDs) = (label, config, seeds, runIDs)
        (self.done, self.missing, self.failed, self.metrics) = (done, missing, failed, metrics)
        self.config.seed = 0
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        config = RunConfig()
        for (key, text) in try c.decode([String: String].self, forKey: .config) {
            guard let field = RunField.named(key), let value = field.type.value(fromText: text),
                field.assign(value, to: &config)
            else {
                throw DecodingError.dataCorruptedError(
                    forKey: .config, in: c, debugDescription: "config.\(key): unexpected \"\(text)\"")
            }
        }
        config.seed = 0
        label = try c.decode(String.self, forKey: .label)
        seeds = try c.decode([UInt64].self, forKey: .seeds)
        runIDs = try c.decode([String].self, forKey: .runIDs)
        done = try c.decode(Int.self, forKey: .done)
        missing = try c.decode(Int.self, forKey: .missing)
        failed = try c.decode(Int.self, forKey: .failed)
        metrics = try c.decode([String: Statistic].self, forKey: .metrics)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(label, forKey: .label)
        try c.encode(config.groupFields, forKey: .config)
        try c.encode(seeds, forKey: .seeds)
        try c.encode(runIDs, forKey: .runIDs)
        try c.encode(done, forKey: .done)
        try c.encode(missing, forKey: .missing)
        try c.encode(failed, forKey: .failed)
        try c.encode(metrics, forKey: .metrics)
    }
}

public struct StudySummary: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    public var specFile: String
    public var specSHA256: String
    public var groups: [GroupSummary]

    public init(name: String, description: String, specFile: String, specSHA256: String, groups: [GroupSummary]) {
        (self.name, self.description, self.specFile, self.specSHA256, self.groups) =
            (name, description, specFile, specSHA256, groups)
    }

    /// The groups' labels, unique within the study: a label that groups share (their configs
    /// differ only where a field has no label for them, such as an AE's iwae_samples: a study
    /// recorded before the spec reader rejected that, `RunConfig.asRead`) gets " #2", " #3", … on
    /// its later groups. The exports key groups by these.
    public var uniqueLabels: [String] {
        var seen: [String: Int] = [:]
        return groups.map { g in
            seen[g.label, default: 0] += 1
            return seen[g.label]! == 1 ? g.label : "\(g.label) #\(seen[g.label]!)"
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, description, groups
        case specFile = "spec_file"
        case specSHA256 = "spec_sha256"
    }
}

extension RunConfig {
    /// Every written field but the seed, as text: a group's config in summary.json and in diffs.
    public var groupFields: [String: String] {
        let fields = RunField.all.filter { $0.type != .seed && $0.isWritten(for: self) }
        return Dictionary(uniqueKeysWithValues: fields.map { ($0.key, $0.value(of: self).text) })
    }
}

extension FinalMetrics {
    /// The run's values of the summary's metrics (`Summary.metricOrder`), those it has: an AE
    /// has no KL and no NLL bound.
    public var summaryValues: [(key: String, value: Double)] {
        let byKey: [String: Double?] = [
            "train_recon": train.recon, "train_kl": train.kl, "train_total": train.total,
            "test_recon": test.recon, "test_kl": test.kl, "test_total": test.total,
            "test_nll_iwae": testNLLBound, "active_units": activeUnits.map(Double.init),
            "knn_accuracy": knnAccuracy,
        ]
        return Summary.metricOrder.compactMap { key in byKey[key].flatMap { $0 }.map { (key, $0) } }
    }
}

/// `results/summary.json`: every recorded study, group by group. Deterministic: stable order,
/// numbers rounded to 4 decimals, no timings, so `git diff` shows only real changes.
public struct Summary: Codable, Sendable, Equatable {
    public static let currentFormat = "vaelab.summary/1"
    public var format = Summary.currentFormat
    public var units = "losses in nats per image (see metrics.json); knn_accuracy a fraction; active_units a count"
    public var studies: [StudySummary]

    public static let metricOrder = [
        "train_recon", "train_kl", "train_total", "test_recon", "test_kl", "test_total",
        "test_nll_iwae", "active_units", "knn_accuracy",
    ]

    static func round(_ x: Double) -> Double { (x * 10_000).rounded() / 10_000 }

    /// Builds the summary of the given studies from the run directories in `store`.
    public static func build(studies: [StudyRecord], store: ResultsStore, dataFingerprints: [String: String]) -> Summary
    {
        var out: [StudySummary] = []
        for study in studies.sorted(by: { $0.name < $1.name }) {
            var groups: [(key: String, entries: [StudyRecord.Entry])] = []
            for entry in study.runs {
                var c = entry.config
                c.seed = 0
                let key = String(decoding: c.canonicalJSON(), as: UTF8.self)
                if let i = groups.firstIndex(where: { $0.key == key }) {
                    groups[i].entries.append(entry)
                } else {
                    groups.append((key, [entry]))
                }
            }
            let summaries = groups.map { group -> GroupSummary in
                var values: [String: [Double]] = [:]
                var done = 0
                var failed = 0
                var missing = 0
                for entry in group.entries {
                    let dir = store.run(entry.id)
                    let fingerprint = dataFingerprints[entry.config.dataset] ?? ""
                    if case .success(let m) = dir.verifyMetrics(config: entry.config, dataFingerprint: fingerprint) {
                        done += 1
                        for (key, value) in m.final.summaryValues { values[key, default: []].append(value) }
                    } else if FileManager.default.fileExists(atPath: dir.failurePath) {
                        failed += 1
                    } else {
                        missing += 1
                    }
                }
                let config = group.entries[0].config
                return GroupSummary(
                    label: label(config), config: config, seeds: group.entries.map(\.config.seed),
                    runIDs: group.entries.map(\.id), done: done, missing: missing, failed: failed,
                    metrics: values.compactMapValues { Statistic($0) })
            }
            out.append(
                StudySummary(
                    name: study.name, description: study.description, specFile: study.specFile,
                    specSHA256: study.specSHA256, groups: summaries))
        }
        return Summary(studies: out)
    }

    /// "vae d=16 H=256 β=1" plus whatever differs from the defaults (each field's label).
    public static func label(_ c: RunConfig) -> String {
        RunField.labelOrder.compactMap { $0.label(of: c) }.joined(separator: " ")
    }

    /// What tells `configs` apart, for a figure's legend: each one's `label` without the field
    /// labels every config shares, and those shared labels (for the figure's subtitle; empty when
    /// none). A field varies where the configs that read it label it differently (`isRead`: the
    /// VAEs' common β=1 beside an AE is shared). A field that varies is named at its default too
    /// ("lr 0.001" beside "lr 0.002"). Configs that differ in no label keep their whole labels,
    /// with nothing shared.
    public static func distinguishingLabels(_ configs: [RunConfig]) -> (labels: [String], shared: String) {
        let read = RunField.labelOrder.map { field in configs.filter(field.isRead).map { field.label(of: $0) } }
        let varies = read.map { Set($0).count > 1 }
        guard varies.contains(true) else { return (configs.map(label), "") }
        let labels = configs.map { c in
            zip(RunField.labelOrder, varies).compactMap { field, varies in varies ? field.explicitLabel(of: c) : nil }
                .joined(separator: " ")
        }
        // Not with today's fields (each varying one names every config that reads it, and the
        // model always varies beside a config that does not); a field added without a default
        // label could leave a config with none.
        guard !labels.contains(where: \.isEmpty) else { return (configs.map(label), "") }
        let shared = zip(read, varies).compactMap { labels, varies in varies ? nil : labels.first ?? nil }
        return (labels, shared.joined(separator: " "))
    }

    /// summary.md: one table per study, mean ± std (n) of the final metrics.
    public func markdown() -> String {
        var s = "# Results summary\n\nGenerated by `vaelab run` from `results/`. Losses in nats per image "
        s += "(BCE summed over 784 pixels, KL summed over latent dimensions, mean over images); "
        s += "final epoch; mean ± sample std over seeds (n).\n"
        for study in studies {
            s += "\n## \(Markdown.inline(study.name))\n\n"
            if !study.description.isEmpty { s += "\(Markdown.inline(study.description))\n\n" }
            s += Self.metricsTable(study.groups, firstColumn: "group")
            if let note = Self.scaleNote(study.groups.map(\.config)) { s += "\n\(note)\n" }
        }
        return s
    }

    /// A study's Markdown table: one row per group (its label, finished/planned runs, then mean ±
    /// std of every metric in `metricOrder`), as summary.md and REPORT.md show it.
    public static func metricsTable(_ groups: [GroupSummary], firstColumn: String) -> String {
        var s =
            """
            | \(firstColumn) | n | train recon | train KL | train total | test recon | test KL | test total \
            | NLL (IWAE) | active units | \(knnHeading(groups.map(\.config))) |
            |---|---|---|---|---|---|---|---|---|---|---|\n
            """
        for g in groups {
            var row = "| \(Markdown.inline(g.label)) | \(g.done)/\(g.runIDs.count)"
            for key in metricOrder { row += " | " + (g.metrics[key].map { format($0, key: key) } ?? "–") }
            s += row + " |\n"
        }
        return s
    }

    /// The k-NN accuracy column's heading: "5-NN acc." for the k every config uses, "k-NN acc."
    /// where they differ (each row's label then names its k).
    public static func knnHeading(_ configs: [RunConfig]) -> String {
        let ks = Set(configs.map(\.knnNeighbors))
        return (ks.count == 1 ? "\(ks.first!)" : "k") + "-NN acc."
    }

    /// What a reader must know when rows' losses are on different scales (nil when they are not):
    /// the continuous Bernoulli's -log p includes -log C(λ) per pixel.
    public static func scaleNote(_ configs: [RunConfig]) -> String? {
        guard configs.contains(where: { $0.likelihood == .continuousBernoulli }) else { return nil }
        return """
            Rows marked *cont. Bernoulli* use the continuous Bernoulli likelihood: their recon, total and NLL \
            include -log C(λ) for every pixel, so they are on another scale than the Bernoulli rows and not \
            comparable with them (compare latent statistics, k-NN accuracy and figures across likelihoods).
            """
    }

    /// Losses with 2 decimals, active units with 1, accuracies as percentages with 1.
    public static func format(_ s: Statistic, key: String) -> String {
        let percent = key == "knn_accuracy"
        let scale = percent ? 100.0 : 1.0
        let digits = percent || key == "active_units" ? 1 : 2
        var out = String(format: "%.\(digits)f", s.mean * scale)
        if let std = s.std { out += " ± " + String(format: "%.\(digits)f", std * scale) }
        return out + (percent ? "%" : "")
    }
}
