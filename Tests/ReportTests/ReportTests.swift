import Datasets
import Experiments
import Figures
import Foundation
import Models
import NeuralNet
import Report
import Support
import Testing
import Training

private let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Golden/REPORT.md"
private let fingerprint = datasetFingerprint(DatasetName.mnist.pinnedChecksums)

private func scratchDirectory() -> String {
    let dir = NSTemporaryDirectory() + "vaelab-report-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

private func config(_ model: ModelKind, d: Int, beta: Double = 1, seed: UInt64) -> RunConfig {
    var c = RunConfig()
    c.model = model
    c.latentDim = d
    c.beta = beta
    c.seed = seed
    c.epochs = 3
    return c
}

/// metrics.json text for a fabricated run: losses that depend smoothly on d, beta and the seed.
private func metricsJSON(_ c: RunConfig, hash: String? = nil) -> String {
    let vae = c.model == .vae
    let recon0 = 60 + 150 / Double(c.latentDim) + 8 * c.beta + Double(c.seed) * 0.5
    let kl0 = vae ? 3 * Double(c.latentDim).squareRoot() / c.beta + 1 + Double(c.seed) * 0.25 : 0
    func parts(_ r: Double, _ k: Double) -> String {
        vae
            ? #"{"kl": \#(k), "recon": \#(r), "total": \#(r + c.beta * k)}"#
            : #"{"kl": null, "recon": \#(r), "total": \#(r)}"#
    }
    let epochs = (1...c.epochs).map { e -> String in
        let f = 1 + 0.5 / Double(e)
        return #"{"epoch": \#(e), "test": \#(parts(recon0 * f + 1, kl0 / f)), "train": \#(parts(recon0 * f, kl0 / f))}"#
    }
    let d = c.latentDim
    let final = """
        {"active_unit_threshold": 0.01, "active_units": \(vae ? "\(d)" : "null"), \
        "iwae_samples": \(vae ? "100" : "null"),
         "kl_per_dimension": \
        \(vae ? "[" + Array(repeating: "\(kl0 / Double(d))", count: d).joined(separator: ",") + "]" : "null"),
         "knn_accuracy": \(0.7 + Double(d) / 100), "knn_neighbors": 5,
         "latent_variance": [\(Array(repeating: "1.0", count: d).joined(separator: ","))],
         "test": \(parts(recon0 + 1, kl0)), "test_nll_iwae": \(vae ? "\(recon0 + kl0 - 3)" : "null"), \
        "train": \(parts(recon0, kl0))}
        """
    return """
        {"config_hash": "\(hash ?? c.hash)", "data_fingerprint": "\(fingerprint)", \
        "epochs": [\(epochs.joined(separator: ","))],
         "final": \(final), "format": "vaelab.metrics/1", "units": "nats per image"}
        """
}

/// A small results tree: a reference study (two VAE seeds at d = 2, one at d = 16, an AE, a
/// failed run and one never run) and a beta sweep sharing a run with it.
private func makeResults() throws -> String {
    let root = scratchDirectory() + "/results"
    let store = ResultsStore(root: root)
    try AtomicFile.makeDirectory(store.studiesDirectory)
    let reference: [(RunConfig, String)] = [
        (config(.vae, d: 2, seed: 0), "done"), (config(.vae, d: 2, seed: 1), "done"),
        (config(.vae, d: 16, seed: 0), "done"),
        (config(.ae, d: 2, seed: 0), "done"), (config(.ae, d: 16, seed: 0), "failed"),
        (config(.vae, d: 16, seed: 1), "missing"),
    ]
    let sweep: [(RunConfig, String)] = [0.5, 1, 2].map { (config(.vae, d: 16, beta: $0, seed: 0), "done") }
    var records: [StudyRecord] = []
    for (name, runs) in [("reference", reference), ("beta-sweep", sweep)] {
        var entries: [String] = []
        for (c, state) in runs {
            let id = c.runID(dataFingerprint: fingerprint)
            entries.append(
                #"{"id": "\#(id)", "origin": "fixture", "#
                    + #""config": \#(String(decoding: c.canonicalJSON(), as: UTF8.self))}"#
            )
            let dir = store.run(id)
            switch state {
            case "done":
                try dir.begin(c)
                try AtomicFile.write(metricsJSON(c), to: dir.metricsPath)
            case "failed":
                try dir.begin(c)
                try AtomicFile.write(
                    #"{"error": "non-finite loss nan at epoch 2, batch 7", "#
                        + #""epoch": 2, "batch": 7, "finished_at": "x"}"#,
                    to: dir.failurePath)
            default: break
            }
        }
        let json = """
            {"format": "vaelab.study/1", "name": "\(name)", "description": "Fixture study \(name).",
             "spec_file": "experiments/\(name).json", \
            "spec_sha256": "\(String(repeating: name == "reference" ? "a" : "b", count: 64))",
             "runs": [\(entries.joined(separator: ","))]}
            """
        try AtomicFile.write(json, to: store.studiesDirectory + "/\(name).json")
        records.append(try JSONDecoder().decode(StudyRecord.self, from: Data(json.utf8)))
    }
    // One run has its figures: a samples grid carrying its id.
    let first = config(.vae, d: 2, seed: 0)
    let dir = store.run(first.runID(dataFingerprint: fingerprint))
    try AtomicFile.makeDirectory(dir.figuresPath)
    var grid = ImageGrid(title: "Samples", images: (0..<(4 * 784)).map { Float($0 % 28) / 27 }, rows: 2, columns: 2)
    grid.cell = 28
    try PNG.write(
        grid.render().pngImage(text: ["vaelab.run_id": first.runID(dataFingerprint: fingerprint)]),
        to: dir.figuresPath + "/" + RunFigures.samples)
    let summary = Summary.build(studies: records, store: store, dataFingerprints: ["mnist": fingerprint])
    try AtomicFile.write(CanonicalJSON.encode(summary), to: store.summaryJSONPath)
    return root
}

@Suite("Report generator", .serialized)
struct ReportTests {
    @Test func reportMatchesTheGoldenMarkdown() throws {
        let results = try makeResults()
        let out = URL(fileURLWithPath: results).deletingLastPathComponent().path + "/report"
        let outcome = try ReportGenerator.generate(results: results, out: out)
        // The golden file names the results directory the way the generator was given it.
        let text = try String(contentsOfFile: outcome.reportPath, encoding: .utf8).replacingOccurrences(
            of: results, with: "RESULTS")
        if ProcessInfo.processInfo.environment["VAELAB_UPDATE_GOLDEN"] == "1" {
            try AtomicFile.write(text, to: golden)
        }
        let expected = try String(contentsOfFile: golden, encoding: .utf8)
        #expect(text == expected)
        #expect(outcome.runs.done == 6 && outcome.runs.failed == 1 && outcome.runs.missing == 1)
    }

    @Test func sameResultsGiveTheSameBytes() throws {
        let results = try makeResults()
        let a = scratchDirectory()
        let b = scratchDirectory()
        let first = try ReportGenerator.generate(results: results, out: a)
        _ = try ReportGenerator.generate(results: results, out: b)
        #expect(
            FileManager.default.contents(atPath: a + "/REPORT.md")
                == FileManager.default.contents(atPath: b + "/REPORT.md"))
        for name in first.figures {
            #expect(
                FileManager.default.contents(atPath: a + "/figures/" + name)
                    == FileManager.default.contents(atPath: b + "/figures/" + name))
        }
    }

    /// Links into the results tree resolve from the report's directory, wherever each is.
    @Test func runFigureLinksResolveFromTheReport() throws {
        let results = try makeResults()
        // A figure of a finished run that is not its group's first: linked into the results tree.
        let runs = try FileManager.default.contentsOfDirectory(atPath: results + "/runs").sorted()
        let second = try #require(
            runs.first {
                $0.contains("-s1-") && FileManager.default.fileExists(atPath: "\(results)/runs/\($0)/metrics.json")
            })
        let samples = try #require(
            FileManager.default.enumerator(atPath: results + "/runs")?.compactMap { $0 as? String }
                .first { $0.hasSuffix("/figures/" + RunFigures.samples) })
        try AtomicFile.makeDirectory("\(results)/runs/\(second)/figures")
        try FileManager.default.copyItem(
            atPath: results + "/runs/" + samples,
            toPath: "\(results)/runs/\(second)/figures/\(RunFigures.reconstructions)")
        let out = scratchDirectory() + "/deeper/report"
        let outcome = try ReportGenerator.generate(results: results, out: out)
        let text = try String(contentsOfFile: outcome.reportPath, encoding: .utf8)
        let links = text.matches(of: /\]\(([^)]*\/runs\/[^)]*\.png)\)/).map { String($0.1) }
        #expect(!links.isEmpty)
        for link in links { #expect(FileManager.default.fileExists(atPath: out + "/" + link), "\(link)") }
    }

    @Test func figuresAreLinkedAndCarryTheirRuns() throws {
        let results = try makeResults()
        let out = scratchDirectory()
        let outcome = try ReportGenerator.generate(results: results, out: out)
        let text = try String(contentsOfFile: outcome.reportPath, encoding: .utf8)
        #expect(outcome.figures.contains("reference-curves.png"))
        #expect(outcome.figures.contains("beta-sweep-rate-distortion.png"))
        #expect(outcome.figures.contains("beta-sweep-against-beta.png"))
        for name in outcome.figures {
            #expect(text.contains("figures/\(name)"), "\(name) is not linked")
            let image = try PNG.read(out + "/figures/" + name)
            #expect(image.text["vaelab.run_id"]?.isEmpty == false, "\(name) has no run id")
        }
        // A stale figure from an earlier report is removed.
        try AtomicFile.write([1, 2, 3], to: out + "/figures/stale.png")
        _ = try ReportGenerator.generate(results: results, out: out)
        #expect(!FileManager.default.fileExists(atPath: out + "/figures/stale.png"))
    }

    @Test func editedMetricsAreReportedInvalidNotUsed() throws {
        let results = try makeResults()
        let c = config(.vae, d: 16, seed: 0)
        let dir = ResultsStore(root: results).run(c.runID(dataFingerprint: fingerprint))
        try AtomicFile.write(metricsJSON(c, hash: String(repeating: "0", count: 64)), to: dir.metricsPath)
        let outcome = try ReportGenerator.generate(results: results, out: scratchDirectory())
        #expect(outcome.runs.invalid == 1)
        let text = try String(contentsOfFile: outcome.reportPath, encoding: .utf8)
        #expect(text.contains("invalid: metrics.json was made with another config"))
    }

    @Test func referenceRunsAppearSeedBySeedBesideVaelabs() throws {
        let results = try makeResults()
        try AtomicFile.makeDirectory(results + "/pytorch")
        for (seed, total) in [(0, 150.0), (1, 171.5), (2, 148.25)] {
            let json = """
                {"implementation": "PyTorch 9.9 <script>x</script> | cell", "config": {"model": "vae", "latent_dim": 2,
                 "hidden_units": 256, "beta": 1.0, "seed": \(seed), "epochs": 3, "batch_size": 128, \
                "learning_rate": 0.001},
                 "final": {"test": {"recon": 1, "kl": 2, "total": \(total)}, "active_units": \(seed + 1)}}
                """
            try AtomicFile.write(json, to: results + "/pytorch/vae-s\(seed).json")
        }
        // Another configuration's run matches no group and is left out.
        try AtomicFile.write(
            #"{"implementation": "PyTorch", "config": {"model": "vae", "latent_dim": 7, "hidden_units": 256, "#
                + #""beta": 1, "seed": 0, "epochs": 3, "batch_size": 128, "learning_rate": 0.001}, "#
                + #""final": {"test": {"recon": 1, "kl": 2, "total": 999}, "active_units": 1}}"#,
            to: results + "/pytorch/other.json")
        let outcome = try ReportGenerator.generate(results: results, out: scratchDirectory())
        let text = try String(contentsOfFile: outcome.reportPath, encoding: .utf8)
        #expect(
            text.contains(
                """
                | PyTorch 9.9 &lt;script&gt;x&lt;/script&gt; \\| cell | 3 | s0 150.0 (1) · s1 171.5 (2) · s2 148.2 \
                (3) | 156.58 ± 12.95 | 23.2 |
                """
            ))
        #expect(text.contains("| vaelab | 2 | s0 "))
        #expect(!text.contains("999.0"))
        #expect(!text.contains("<script>"))

        try AtomicFile.write(#"{"implementation": "PyTorch", "config": {}}"#, to: results + "/pytorch/broken.json")
        do {
            _ = try ReportGenerator.generate(results: results, out: scratchDirectory())
            Issue.record("accepted a broken reference run")
        } catch let e as ReportError {
            #expect(e.file.hasSuffix("pytorch/broken.json"))
            #expect(!e.description.contains("\n"))
        }
    }

    @Test func badResultsTreesGiveOneLineErrors() throws {
        let missing = scratchDirectory() + "/nothing"
        #expect(throws: ReportError.self) { try ReportGenerator.generate(results: missing, out: scratchDirectory()) }

        let results = try makeResults()
        let summaryPath = results + "/summary.json"
        try AtomicFile.write(#"{"format": "vaelab.summary/9", "studies": []}"#, to: summaryPath)
        do {
            _ = try ReportGenerator.generate(results: results, out: scratchDirectory())
            Issue.record("accepted a summary of another format")
        } catch let e as ReportError {
            #expect(e.description == "\(summaryPath): format vaelab.summary/9, expected vaelab.summary/1")
        }
        try AtomicFile.write(#"{"format": "vaelab.summary/1", "studies": [}"#, to: summaryPath)
        #expect(throws: ReportError.self) { try ReportGenerator.generate(results: results, out: scratchDirectory()) }

        let results2 = try makeResults()
        try AtomicFile.write("{not json", to: results2 + "/studies/reference.json")
        do {
            _ = try ReportGenerator.generate(results: results2, out: scratchDirectory())
            Issue.record("accepted a broken study record")
        } catch let e as ReportError {
            #expect(e.file.hasSuffix("studies/reference.json"))
            #expect(!e.description.contains("\n"))
        }
    }
}
