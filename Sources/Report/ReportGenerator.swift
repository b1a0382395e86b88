import Datasets
import Experiments
import Figures
import Foundation
import Models
import NeuralNet
import Support
import Training

/// `vaelab report`: REPORT.md and its figures, regenerated from a results tree alone (no
/// training, no data), deterministic (no timestamps), with relative links.
public struct ReportGenerator {
    /// The published numbers of the reference study (after 25 epochs; training-set losses as the
    /// Keras example logs them), by latent dimension: recon, KL, total, and whether approximate.
    public static let published: [Int: (recon: Double, kl: Double, total: Double, approximate: Bool)] = [
        2: (137.0, 6.0, 143.0, true),
        16: (74.99, 22.52, 97.51, false),
    ]
    public static let referenceStudy = "reference"

    public struct Outcome {
        public var reportPath: String
        public var figures: [String]
        public var runs: (done: Int, failed: Int, missing: Int, invalid: Int)
    }

    let tree: ResultsTree
    let out: String
    /// Path of the results tree as the report names it (relative where possible).
    let resultsName: String
    /// The results tree as a link from the report's directory ("../results" for the defaults).
    let resultsLink: String
    private var figures: [(name: String, bytes: [UInt8])] = []
    var md = ""  // the report being written (LiteratureNLL.swift adds to it)

    public static func generate(results: String, out: String) throws -> Outcome {
        var generator = ReportGenerator(tree: try ResultsTree(root: results), out: out, resultsName: results)
        return try generator.write()
    }

    init(tree: ResultsTree, out: String, resultsName: String) {
        self.tree = tree
        self.out = out
        self.resultsName = resultsName
        resultsLink = Self.relativePath(from: out, to: resultsName)
    }

    /// `target` as a relative link from the directory `base` (both relative to the working
    /// directory or absolute), e.g. ("report", "results") -> "../results".
    static func relativePath(from base: String, to target: String) -> String {
        let b = URL(fileURLWithPath: base).standardizedFileURL.pathComponents
        let t = URL(fileURLWithPath: target).standardizedFileURL.pathComponents
        var common = 0
        while common < min(b.count, t.count) && b[common] == t[common] { common += 1 }
        let parts = Array(repeating: "..", count: b.count - common) + t[common...]
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    // MARK: - Writing

    mutating func write() throws -> Outcome {
        try build()
        let figureDirectory = out + "/figures"
        try AtomicFile.makeDirectory(figureDirectory)
        for f in figures { try AtomicFile.write(f.bytes, to: figureDirectory + "/" + f.name) }
        // Figures of an earlier report that this one no longer has.
        let keep = Set(figures.map(\.name))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: figureDirectory)) ?? []
        where name.hasSuffix(".png") && !keep.contains(name) {
            try? FileManager.default.removeItem(atPath: figureDirectory + "/" + name)
        }
        let path = out + "/REPORT.md"
        try AtomicFile.write(md, to: path)
        let runs = tree.runs
        return Outcome(
            reportPath: path, figures: figures.map(\.name),
            runs: (
                runs.filter { $0.status == .done }.count, runs.filter { $0.status == .failed }.count,
                runs.filter { $0.status == .missing }.count, runs.filter { $0.status == .invalid }.count
            ))
    }

    /// The Markdown and the figures, in memory.
    mutating func build() throws {
        let runs = tree.runs
        let done = runs.filter { $0.status == .done }
        md = "# vaelab report\n\n"
        md += "Regenerated from `\(resultsName)/` by `vaelab report` (`make report`); every number and figure below "
        md += "comes from the run directories, nothing is typed by hand. "
        md += "\(counted(runs.count, "run")) in \(counted(tree.studies.count, "study", "studies")): \(done.count) done"
        for (status, word) in [(ResultsTree.Status.failed, "failed"), (.missing, "not run yet"), (.invalid, "invalid")]
        {
            let n = runs.filter { $0.status == status }.count
            if n > 0 { md += ", \(n) \(word)" }
        }
        md += ".\n\n"
        md += "Contents: [methods](#methods) · "
        if tree.studies.contains(where: { $0.name == Self.referenceStudy }) {
            md += "[the reference study](#the-reference-study) · "
        }
        md += tree.studies.map { "[\($0.name)](#study-\(Self.anchor($0.name)))" }.joined(separator: " · ")
        md += " · [provenance](#provenance) · [appendix: every run](#appendix-every-run)\n\n"
        methods()
        try reference()
        for study in tree.studies { try studySection(study) }
        try perRunCurves()
        provenance()
        appendix()
    }

    private mutating func methods() {
        let configs = tree.runs.map(\.config)
        md += "## Methods\n\n"
        md += "| | |\n|---|---|\n"
        md += Self.dataRows(configs) + Self.lossRow(configs) + Self.trainingRows(configs) + Self.engineChecks
    }

    /// The distinct values of a run setting over `configs`, sorted: "16, 256".
    static func values<T: Hashable & Comparable>(
        _ configs: [RunConfig], _ f: (RunConfig) -> T, _ show: (T) -> String
    ) -> String {
        Set(configs.map(f)).sorted().map(show).joined(separator: ", ")
    }

    /// The methods' Data, Preprocessing and Model rows.
    static func dataRows(_ configs: [RunConfig]) -> String {
        var md =
            """
            | Data | \(values(configs, \.dataset) { $0 }): the standard split, 60,000 training and 10,000 test \
            images (fewer where a run sets `train_limit` / `test_limit`); no validation split, no augmentation |\n
            """
        md += "| Preprocessing | pixels divided by 255 to [0, 1] and kept continuous (not binarised)"
        if configs.contains(where: { $0.binarize == .dynamic }) {
            md += "; rows marked *binarised*: each training epoch draws every pixel x ~ Bernoulli(grey level) "
            md += "afresh (the run's own stream), the test images are binarised once from a fixed stream"
        }
        md += " |\n"
        let kinds = Set(configs.map(\.model))
        var architectures: [String] = []
        for kind in ModelKind.allCases where kinds.contains(kind) {
            let text = ModelRegistry.entry(kind).architecture
            if !architectures.contains(text) { architectures.append(text) }
        }
        let widths = values(configs, \.hiddenUnits) { "\($0)" }
        return md + "| Model | \(architectures.joined(separator: " · ")). H used: \(widths) |\n"
    }

    /// The methods' Loss row: the likelihoods and objectives the runs use.
    static func lossRow(_ configs: [RunConfig]) -> String {
        let recon =
            configs.contains { $0.likelihood == .continuousBernoulli }
            ? "−log p(x\\|z) summed over 784 pixels: the binary cross-entropy of the logits against the pixels "
                + "(Bernoulli), or for rows marked *cont. Bernoulli* the continuous Bernoulli's BCE − log C(λ), "
                + "C(λ) = 2 atanh(1 − 2λ) / (1 − 2λ), a density on [0, 1] whose losses are not comparable with the "
                + "Bernoulli ones"
            : "binary cross-entropy of the logits against the pixels, summed over 784 pixels"
        return
            """
            | Loss | recon = \(recon); KL = \
            KL(q(z\\|x) ‖ N(0, I)) in closed form, summed over the d dimensions; total = recon + β·KL; each \
            averaged over the images (AE: recon only)\(configs.contains { $0.model == .iwae } ? iwaeLoss : ""). \
            Units: nats per image |\n
            """
    }

    /// The methods' Optimiser, Selection, Train / test losses, Extra metrics and Seeds rows.
    static func trainingRows(_ configs: [RunConfig]) -> String {
        let epochs = values(configs, \.epochs) { "\($0)" }
        return
            """
            | Optimiser | Adam (β₁ 0.9, β₂ 0.999, ε 1e-7), learning rate \
            \(values(configs, \.learningRate) { RunConfig.compact($0) }), batch size \
            \(values(configs, \.batchSize) { "\($0)" }), \(epochs == "1" ? "1 epoch" : "\(epochs) epochs"), one z \
            per image per step, Glorot-uniform init |
            | Selection | the last epoch: no early stopping, no checkpoint picking |
            | Train / test losses | train: mean over the epoch's batches while training; test: all test images \
            after the epoch, one z per image |
            | Extra metrics | NLL: importance-weighted bound (IWAE) with k = \(values(configs, \.iwaeSamples) { "\($0)" }) \
            samples per test image; active units: dimensions whose posterior mean varies over the test set by \
            more than 0.01; k-NN accuracy: \(values(configs, \.knnNeighbors) { "\($0)" })-nearest neighbours of the \
            test latent means among the training ones |
            | Seeds | mean ± sample standard deviation over seeds, n = number of finished seeds |\n
            """
    }

    /// The methods' last row: what `make test` checks of the engine.
    static let engineChecks =
        """
        | Engine checks | every `make test`: finite-difference gradient checks of every layer and loss; the golden \
        test (`Tests/GoldenTests`): from vaelab's initial weights, MNIST's first batches and vaelab's noise, a \
        float64 PyTorch implementation with Keras's padding reproduced exactly computes the loss parts, every \
        gradient, the Adam step and a 20-step trajectory, for the VAE and the AE at d = 2 and 16 and H = 16 and \
        256, each on the direct and the GEMM kernels and on 2 threads; vaelab agrees per tensor within 1e-5 \
        (losses), 1e-4 (gradients), 1e-3 (the step) or 4× PyTorch's own float32 error where float32 cannot do \
        better |\n\n
        """

    // MARK: - The reference study

    private mutating func reference() throws {
        guard let record = tree.studies.first(where: { $0.name == Self.referenceStudy }),
            let study = tree.summary.studies.first(where: { $0.name == Self.referenceStudy })
        else { return }
        md += "## The reference study\n\n\(Markdown.inline(record.description))\n\n"
        md +=
            "Final-epoch losses in nats per image, mean ± std over the n finished seeds. The published values are the "
        md += "training losses after 25 epochs (~ marks an approximate figure).\n\n"
        md +=
            """
            | model | d | H | n | train recon | train KL | train total | test recon | test KL | test total | \
            published recon / KL / total |\n
            """
        md += "|---|---|---|---|---|---|---|---|---|---|---|\n"
        // VAE rows first, then the AE, each by latent dimension.
        func order(_ g: GroupSummary) -> (Int, Int) {
            (g.config.model == .vae ? 0 : 1, g.config.latentDim)
        }
        let groups = study.groups.sorted { order($0) < order($1) }
        referenceTable(groups)
        // Figures: curves of every group, then each group's first finished run.
        let byGroup = groups.map { g in (g, g.runIDs.compactMap { tree.run($0) }.filter { $0.status == .done }) }
        try referenceCharts(groups, byGroup)
        try referenceGallery(byGroup)
        if !md.hasSuffix("\n\n") { md += "\n" }
    }

    /// The reference study's rows beside the published values, and the relative differences.
    private mutating func referenceTable(_ groups: [GroupSummary]) {
        var comparisons: [String] = []
        for g in groups {
            let model = g.config.model.rawValue.uppercased()
            let d = g.config.latentDim
            var row = "| \(model) | \(d) | \(g.config.hiddenUnits) | \(g.done)/\(g.runIDs.count)"
            for key in ["train_recon", "train_kl", "train_total", "test_recon", "test_kl", "test_total"] {
                row += " | " + (g.metrics[key].map { Summary.format($0, key: key) } ?? "–")
            }
            if model == "VAE", let p = Self.published[d] {
                let t = p.approximate ? "~" : ""
                row +=
                    """
                     | \(t)\(Self.number(p.recon, p.approximate ? 1 : 2)) / \
                    \(t)\(Self.number(p.kl, p.approximate ? 1 : 2)) / \
                    \(t)\(Self.number(p.total, p.approximate ? 1 : 2)) |
                    """
                if let total = g.metrics["train_total"] {
                    let delta = (total.mean - p.total) / p.total * 100
                    comparisons.append(
                        """
                        VAE d = \(d): train total \(Self.number(total.mean, 2)) against \
                        \(t)\(Self.number(p.total, 2)) published (\(Self.signed(delta, 1))%)
                        """
                    )
                }
            } else {
                row += " | – |"
            }
            md += row + "\n"
        }
        if !comparisons.isEmpty { md += "\n" + comparisons.joined(separator: "; ") + ".\n" }
        md += "\n"

    }

    /// Curves of every group, and the AE's and VAE's samples from the same draws per d.
    private mutating func referenceCharts(_ groups: [GroupSummary], _ byGroup: [(GroupSummary, [ResultsTree.Run])])
        throws
    {
        let (curveGroups, shared) = Self.curveGroups(byGroup)
        if !curveGroups.isEmpty {
            let ids = byGroup.flatMap { $0.1.map(\.id) }
            try addChart(
                ReportCharts.curves(
                    title: "Reference study: loss per epoch (mean over seeds)", subtitle: shared, groups: curveGroups),
                name: "reference-curves.png", runs: ids,
                caption:
                    """
                    Test (solid) and train (dashed) losses per epoch, mean over seeds; look at the gap between d = \
                    2 and d = 16 in reconstruction, paid for in KL.
                    """
            )
        }
        // AE against VAE samples, per latent dimension.
        for d in Set(groups.map(\.config.latentDim)).sorted() {
            let pair = [ModelKind.vae, .ae].compactMap { kind in
                byGroup.first { $0.0.config.model == kind && $0.0.config.latentDim == d }?.1.first
            }
            guard pair.count == 2 else { continue }
            let images = try pair.compactMap { run -> (String, PNGImage)? in
                let path = run.directory.figuresPath + "/" + RunFigures.samples
                guard FileManager.default.fileExists(atPath: path) else { return nil }
                return (run.config.model.rawValue.uppercased(), try PNG.read(path))
            }
            guard images.count == 2 else { continue }
            try addChart(
                ReportCharts.sideBySide(title: "Samples from the prior: VAE against AE, d = \(d)", panels: images),
                name: "reference-samples-vae-vs-ae-d\(d).png", runs: pair.map(\.id),
                caption:
                    """
                    The same N(0, I) draws through each decoder. The VAE was trained to make N(0, I) cover its \
                    codes; the AE was not, so its samples show whatever its decoder does near the origin: compare \
                    how many are clean digits.
                    """
            )
        }
    }

    /// Each group's first finished run: reconstructions, latent map, interpolations, manifold.
    private mutating func referenceGallery(_ byGroup: [(GroupSummary, [ResultsTree.Run])]) throws {
        var blocks: [String] = []
        for (g, runs) in byGroup {
            guard let run = runs.first else { continue }
            var cells: [String] = []
            for kind in [
                RunFigures.reconstructions, RunFigures.latentMap, RunFigures.interpolations, RunFigures.manifold,
            ] {
                guard let name = try copyRunFigure(run, kind) else { continue }
                cells.append("<img src=\"figures/\(name)\" width=\"420\" alt=\"\(kind)\">")
            }
            if !cells.isEmpty {
                blocks.append(
                    "### \(Markdown.inline(g.label)), seed \(run.config.seed)\n\n" + cells.joined(separator: "\n")
                        + "\n\n")
            }
        }
        if !blocks.isEmpty {
            md +=
                "Each configuration's first finished seed: reconstructions and the latent map, then interpolations and "
            md +=
                """
                (d = 2) the decoded manifold. \(Self.captions[RunFigures.reconstructions]!) \
                \(Self.captions[RunFigures.latentMap]!) 
                """
            md +=
                "\(Self.captions[RunFigures.interpolations]!) \(Self.captions[RunFigures.manifold]!)\n\n"
                + blocks.joined()
        }
    }

    // MARK: - Every study

    private mutating func studySection(_ record: StudyRecord) throws {
        guard let study = tree.summary.studies.first(where: { $0.name == record.name }) else {
            md += "## Study: \(record.name)\n\nNot in `summary.json` yet (run `vaelab run` to refresh it).\n\n"
            return
        }
        md += "## Study: \(Markdown.inline(record.name))\n\n"
        if !record.description.isEmpty { md += Markdown.inline(record.description) + "\n\n" }
        let runCount = study.groups.reduce(0) { $0 + $1.runIDs.count }
        let finished = study.groups.reduce(0) { $0 + $1.done }
        md +=
            """
            Spec \(Markdown.code(record.specFile)) (SHA-256 `\(record.specSHA256.prefix(12))`), \
            \(counted(study.groups.count, "configuration")), 
            """
        md += "\(finished) of \(runCount) runs finished.\n\n"
        md += Summary.metricsTable(study.groups, firstColumn: "configuration") + "\n"
        if let note = Summary.scaleNote(study.groups.map(\.config)) { md += note + "\n\n" }
        let groups = study.groups.map { g in (g, g.runIDs.compactMap { tree.run($0) }.filter { $0.status == .done }) }
        let finishedGroups = groups.filter { !$0.1.isEmpty }
        guard !finishedGroups.isEmpty else { return }
        seedSpread(finishedGroups)
        literatureComparison(finishedGroups)
        let ids = finishedGroups.flatMap { $0.1.map(\.id) }
        let slug = Self.anchor(record.name)

        try studyCharts(record, study, finishedGroups, ids: ids, slug: slug)
        try studyGallery(finishedGroups)
    }

    /// The settings a study varies, when they vary together (one, or a `zip`: each value of one
    /// goes with one value of each other), the first numeric one first; else none.
    public static func variedTogether(_ configs: [RunConfig]) -> [RunField] {
        let varying = RunField.all.filter { f in Set(configs.map { f.value(of: $0) }).count > 1 }
        let points = Set(configs.map { c in varying.map { $0.value(of: c) } }).count
        guard varying.allSatisfy({ f in Set(configs.map { f.value(of: $0) }).count == points }),
            let axis = varying.firstIndex(where: { f in configs.allSatisfy { f.value(of: $0).number != nil } })
        else { return [] }
        return [varying[axis]] + varying.enumerated().filter { $0.offset != axis }.map(\.element)
    }

    /// The final losses against the setting a study varies (with those that vary along with it;
    /// and the rate-distortion plane for beta), and the curves of every configuration.
    private mutating func studyCharts(
        _ record: StudyRecord, _ study: StudySummary, _ finishedGroups: [(GroupSummary, [ResultsTree.Run])],
        ids: [String], slug: String
    ) throws {
        let varied = Self.variedTogether(study.groups.map(\.config))
        if let field = varied.first, finishedGroups.count >= 2 {
            let key = field.key
            let points = finishedGroups.compactMap { g, runs -> (Double, [RunMetrics])? in
                guard let v = field.value(of: g.config).number else { return nil }
                return (v, runs.compactMap(\.metrics))
            }.sorted { $0.0 < $1.0 }
            if points.count >= 2 {
                let positive = points.allSatisfy { $0.0 > 0 }
                let log = positive && (points.last!.0 / points.first!.0) >= 8
                let with = varied.dropFirst().map(\.axisName).joined(separator: ", ")
                let name = field.axisName + (with.isEmpty ? "" : " (with \(with))")
                try addChart(
                    ReportCharts.against(
                        title: "\(record.name): final losses against \(name)", key: key, axisLabel: name,
                        points: points.map { (value: $0.0, runs: $0.1) }, logScale: log),
                    name: "\(slug)-against-\(Self.anchor(key)).png", runs: ids,
                    caption:
                        "Final test (solid) and train (dashed) losses against \(field.axisName)"
                        + (with.isEmpty ? "" : ", with \(with)") + (log ? " (log scale)" : "")
                        + "; bars: ± one std over seeds where n > 1."
                )
                if key == "beta" {
                    try addChart(
                        ReportCharts.rateDistortion(
                            title: "\(record.name): the rate-distortion plane",
                            points: points.map { (beta: $0.0, runs: $0.1) }),
                        name: "\(slug)-rate-distortion.png", runs: ids,
                        caption:
                            """
                            One point per β (test set): larger β buys a lower rate (KL) with more distortion \
                            (recon); grey lines join points of equal recon + KL, the β = 1 objective.
                            """
                    )
                }
            }
        }
        // The reference study's curves are in its own section above.
        if record.name != Self.referenceStudy && (finishedGroups.count >= 2 || tree.studies.count == 1) {
            let (curveGroups, shared) = Self.curveGroups(finishedGroups)
            try addChart(
                ReportCharts.curves(title: "\(record.name): loss per epoch", subtitle: shared, groups: curveGroups),
                name: "\(slug)-curves.png", runs: ids,
                caption: "Test (solid) and train (dashed) losses per epoch for each configuration, mean over seeds.")
        }
    }

    /// A curves figure's groups: the finished ones, each labelled by what tells it from the others
    /// (`Summary.distinguishingLabels`, over the groups drawn) in a colour of its own; and the
    /// labels they all share, for the figure's subtitle.
    static func curveGroups(_ groups: [(GroupSummary, [ResultsTree.Run])]) -> (
        groups: [ReportCharts.Group], shared: String
    ) {
        let finished = groups.filter { !$0.1.isEmpty }
        let (labels, shared) = Summary.distinguishingLabels(finished.map(\.0.config))
        let drawn = finished.enumerated().map { i, pair in
            ReportCharts.Group(
                label: labels[i], color: Color.categorical[i % 10], runs: pair.1.compactMap(\.metrics),
                likelihood: pair.0.config.likelihood)
        }
        return (drawn, shared)
    }

    /// Samples and the latent map of each configuration's first finished run.
    private mutating func studyGallery(_ finishedGroups: [(GroupSummary, [ResultsTree.Run])]) throws {
        // A gallery: samples and latent map of each configuration's first finished run.
        var cells: [(String, String, String)] = []
        for (g, runs) in finishedGroups {
            guard let run = runs.first else { continue }
            let samples = try copyRunFigure(run, RunFigures.samples)
            let map = try copyRunFigure(run, RunFigures.latentMap)
            if samples != nil || map != nil { cells.append((g.label, samples ?? "", map ?? "")) }
        }
        if !cells.isEmpty {
            md += "Samples from N(0, I) and the test set's latent map, first finished seed of each configuration:\n\n"
            md += "| configuration | samples | latent map |\n|---|---|---|\n"
            for (label, s, m) in cells {
                md += "| \(Markdown.inline(label)) | " + (s.isEmpty ? "–" : "<img src=\"figures/\(s)\" width=\"300\">")
                md += " | " + (m.isEmpty ? "–" : "<img src=\"figures/\(m)\" width=\"340\">") + " |\n"
            }
            md += "\n"
        }
    }

    // MARK: - Seed by seed, beside the PyTorch reference

    /// For a study with reference runs (`ResultsTree.referenceRuns`) of any of its
    /// configurations: each configuration's final test totals and active units seed by seed, for
    /// vaelab and the reference, with their spread, and where the spread is widest.
    private mutating func seedSpread(_ groups: [(GroupSummary, [ResultsTree.Run])]) {
        typealias Seeds = [(seed: UInt64, total: Double, active: Int?)]
        let rows = groups.map { g, runs -> (GroupSummary, Seeds, [ReferenceRun]) in
            let refs = tree.referenceRuns.filter { r in runs.first.map { r.matches($0.config) } ?? false }
            let mine = runs.compactMap { r in
                r.metrics.map { (r.config.seed, $0.final.test.total, $0.final.activeUnits) }
            }
            return (g, mine, refs.sorted { $0.config.seed < $1.config.seed })
        }
        guard let named = rows.lazy.compactMap({ $0.2.first }).first else { return }
        let name = Markdown.inline(named.implementationName)
        md += "Seed by seed, beside an independent \(name) implementation of the same model and protocol trained "
        md += "from its own initial draws (`\(resultsName)/pytorch/`, written by `Tests/GoldenTests/seeds.py`): "
        md += "final test total, active units in brackets.\n\n"
        md += "| configuration | implementation | n | test total per seed (active units) | mean ± std | range |\n"
        md += "|---|---|---|---|---|---|\n"
        func row(_ label: String, _ who: String, _ seeds: Seeds) {
            let totals = seeds.map(\.total)
            let each = seeds.map { "s\($0.seed) \(Self.number($0.total, 1)) (\($0.active.map(String.init) ?? "–"))" }
            let stat = Statistic(totals).map { Summary.format($0, key: "test_total") } ?? "–"
            md += "| \(label) | \(who) | \(seeds.count) | " + each.joined(separator: " · ")
            md += " | \(stat) | \(seeds.count > 1 ? Self.number(range(totals), 1) : "–") |\n"
        }
        for (g, mine, refs) in rows {
            if !mine.isEmpty { row(Markdown.inline(g.label), "vaelab", mine) }
            if !refs.isEmpty {
                row(
                    Markdown.inline(g.label), Markdown.inline(refs[0].implementation),
                    refs.map { ($0.config.seed, $0.final.test.total, $0.final.activeUnits) })
            }
        }
        md += "\n"
        // Where the seeds matter most: the widest range of vaelab's totals against the narrowest.
        let spread = rows.filter { $0.1.count >= 2 }.map { g, mine, refs in
            (g, mine.map(\.total), refs.map(\.final.test.total))
        }
        guard let wide = spread.max(by: { range($0.1) < range($1.1) }),
            let narrow = spread.min(by: { range($0.1) < range($1.1) }), range(wide.1) >= 3 * range(narrow.1)
        else { return }
        md +=
            """
            At \(Markdown.inline(wide.0.label)) the final test total spans \
            \(Self.number(wide.1.min()!, 1))–\(Self.number(wide.1.max()!, 1)) 
            """
        md += "over \(wide.1.count) seeds in vaelab"
        if wide.2.count >= 2 {
            md +=
                " and \(Self.number(wide.2.min()!, 1))–\(Self.number(wide.2.max()!, 1))"
                + " over \(wide.2.count) in \(name)"
        }
        md +=
            """
            , against a range of \(Self.number(range(narrow.1), 1)) at \(Markdown.inline(narrow.0.label)): there the result depends \
            on the 
            """
        md += "initial draw (how many latent units survive it)"
        md += (wide.2.count >= 2 ? ", in both implementations" : "") + ".\n\n"
    }

    private func range(_ xs: [Double]) -> Double { (xs.max() ?? 0) - (xs.min() ?? 0) }

    // MARK: - Per-run figures

    /// Training curves of every finished run (linked from the appendix).
    private mutating func perRunCurves() throws {
        for run in tree.runs where run.status == .done {
            guard let m = run.metrics else { continue }
            let canvas = ReportCharts.curves(
                title: "\(Summary.label(run.config)) · seed \(run.config.seed): loss per epoch",
                groups: [.init(label: "", color: Color.categorical[0], runs: [m], likelihood: run.config.likelihood)])
            figures.append(
                (
                    "\(run.id)-curves.png",
                    try PNG.encode(
                        canvas.pngImage(
                            text: Self.text(
                                title: "Training curves", runs: [run])))
                ))
        }
    }

    private static let captions: [String: String] = [
        RunFigures.reconstructions:
            """
        Test images over their reconstructions (decoded posterior means): blur and digit swaps show what the \
        code keeps.
        """,
        RunFigures.samples:
            "Samples decoded from z ~ N(0, I): sharp, varied digits mean the prior covers the latent space.",
        RunFigures.latentMap:
            """
        Posterior means of the test images coloured by digit (first two principal components when d > 2): look \
        for separated, round clusters.
        """,
        RunFigures.interpolations:
            """
        Decoded straight lines between two test images' latent means: smooth morphs without blanks mean a \
        continuous latent space.
        """,
        RunFigures.manifold:
            """
        The decoder over a 20 × 20 grid of N(0, 1) quantiles of a 2-d latent space: every digit should have a \
        region.
        """,
    ]

    /// Copies `<run>/figures/<kind>` into the report (once); its name there, or nil if the run has none.
    private mutating func copyRunFigure(_ run: ResultsTree.Run, _ kind: String) throws -> String? {
        let path = run.directory.figuresPath + "/" + kind
        let name = "\(run.id)-\(kind)"
        if figures.contains(where: { $0.name == name }) { return name }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = [UInt8](data)
        _ = try PNG.decode(bytes, file: path)  // never copy a damaged file into the report
        figures.append((name, bytes))
        return name
    }

    private mutating func addChart(_ canvas: Canvas, name: String, runs ids: [String], caption: String) throws {
        let runs = ids.compactMap { tree.run($0) }
        figures.append((name, try PNG.encode(canvas.pngImage(text: Self.text(title: name, runs: runs)))))
        md += "![\(name)](figures/\(name))\n\n*\(caption)*\n\n"
    }

    static func text(title: String, runs: [ResultsTree.Run]) -> [String: String] {
        [
            "Title": title,
            "Software": "vaelab \(Provenance.version)",
            "vaelab.run_id": runs.map(\.id).joined(separator: ","),
            "vaelab.config_hash": runs.map(\.config.hash).joined(separator: ","),
        ]
    }

    // MARK: - Provenance and appendix

    private mutating func provenance() {
        md += "## Provenance\n\n"
        let timings = tree.runs.compactMap(\.timing)
        func distinct(_ f: (Provenance) -> String) -> String {
            let v = Set(timings.map { f($0.provenance) }).sorted()
            return v.isEmpty ? "–" : v.joined(separator: ", ")
        }
        md += "| | |\n|---|---|\n"
        md += "| vaelab | \(distinct(\.vaelabVersion)) |\n"
        md +=
            """
            | commits the runs were trained at | \
            \(distinct { "`\($0.gitCommit.prefix(12))`" + ($0.gitDirty ? " (dirty)" : "") }) |\n
            """
        md += "| Swift | \(distinct(\.swiftVersion)) |\n"
        md +=
            """
            | BLAS | OpenBLAS, kernel \(distinct(\.blasCore)), \(distinct { "\($0.blasThreads)" }) thread(s) per \
            run |\n
            """
        md += "| CPU | \(distinct(\.cpuModel)), \(distinct { "\($0.hostCores)" }) cores |\n"
        let total = timings.reduce(0) { $0 + $1.totalSeconds }
        md +=
            """
            | compute | \(readableDuration(total)) in \(timings.count) finished runs (sum of run wall times) |\n
            """
        let rss = timings.map(\.peakResidentMB).max()
        md +=
            """
            | peak resident memory of a vaelab process (the runs of one `vaelab run --jobs N` share it) | \
            \(rss.map { "\(Int($0.rounded())) MB" } ?? "–") |\n
            """
        let runs = tree.runs
        md +=
            """
            | runs | \(runs.count): \(runs.filter { $0.status == .done }.count) done, \
            \(runs.filter { $0.status == .failed }.count) failed, 
            """
        md +=
            """
            \(runs.filter { $0.status == .missing }.count) not run, \(runs.filter { $0.status == .invalid }.count) \
            invalid |\n\n
            """
        md += "Data (SHA-256 of each decompressed file, checked on every load):\n\n"
        for name in Set(tree.runs.map(\.config.dataset)).sorted() {
            guard let dataset = DatasetName(rawValue: name) else { continue }
            for (file, sum) in dataset.pinnedChecksums.sorted(by: { $0.key < $1.key }) {
                md += "- \(name) `\(file)`: `\(sum)`\n"
            }
        }
        md += "\nSpecs:\n\n"
        for s in tree.studies {
            md += "- \(Markdown.code(s.specFile)) (study \(Markdown.inline(s.name))): SHA-256 `\(s.specSHA256)`\n"
        }
        md += "\n"
    }

    private mutating func appendix() {
        md += "## Appendix: every run\n\n"
        md += "| run | studies | configuration | seed | status | wall time | figures |\n|---|---|---|---|---|---|---|\n"
        for run in tree.runs.sorted(by: { $0.id < $1.id }) {
            var status = run.status.rawValue
            if let note = run.note { status += ": " + Markdown.inline(note) }
            let wall = run.timing.map { readableDuration($0.totalSeconds) } ?? "–"
            var links: [String] = []
            if figures.contains(where: { $0.name == "\(run.id)-curves.png" }) {
                links.append("[curves](figures/\(run.id)-curves.png)")
            }
            for kind in [
                RunFigures.reconstructions, RunFigures.samples, RunFigures.latentMap, RunFigures.interpolations,
                RunFigures.manifold,
            ] {
                let name = "\(run.id)-\(kind)"
                if figures.contains(where: { $0.name == name }) {
                    links.append("[\(kind.replacingOccurrences(of: ".png", with: ""))](figures/\(name))")
                } else if run.status == .done,
                    FileManager.default.fileExists(atPath: run.directory.figuresPath + "/" + kind)
                {
                    links.append(
                        "[\(kind.replacingOccurrences(of: ".png", with: ""))]"
                            + "(\(resultsLink)/runs/\(run.id)/figures/\(kind))"
                    )
                }
            }
            md +=
                """
                | `\(run.id)` | \(run.studies.joined(separator: ", ")) | \(Summary.label(run.config)) | \
                \(run.config.seed) | \(status) | \(wall) | \(links.joined(separator: " · ")) |\n
                """
        }
    }

    // MARK: - Formatting

    /// The Loss row's words on IWAE rows.
    static let iwaeLoss =
        "; IWAE rows (*k=…*, Burda et al. 2016) train the same network on −log (1/k) Σₛ wₛ, "
        + "wₛ = p(x\\|zₛ) p(zₛ) / q(zₛ\\|x) for k samples zₛ per image (gradients through the normalised weights); "
        + "their train total is that bound and their test columns are the same one-sample ELBO as the VAE's"

    static func number(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

    static func signed(_ x: Double, _ digits: Int) -> String { (x >= 0 ? "+" : "−") + number(abs(x), digits) }

    static func anchor(_ s: String) -> String {
        String(s.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
    }

}
