import Datasets
import Experiments
import Figures
import Foundation
import Models
import NeuralNet
import Report
import ResultsFixture
import Support
import Testing
import Training

private let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Golden/REPORT.md"
@Suite("Report generator", .serialized)
struct ReportTests {
    @Test func reportMatchesTheGoldenMarkdown() throws {
        let results = try ResultsFixture.makeResults()
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

    /// A loss-per-epoch panel pads its values, at least 0.5 nats for flat curves, but never shows
    /// negative nats for losses that are not: a KL near 0 starts its axis at 0.
    @Test func lossAxesStopAtZero() {
        func near(_ r: ClosedRange<Double>, _ lo: Double, _ hi: Double) -> Bool {
            abs(r.lowerBound - lo) < 1e-9 && abs(r.upperBound - hi) < 1e-9
        }
        #expect(near(ReportCharts.lossAxisRange([0.01, 0.07]), 0, 0.57))  // a KL near 0
        #expect(near(ReportCharts.lossAxisRange([100, 150]), 97, 153))
        #expect(near(ReportCharts.lossAxisRange([533, 533]), 532.5, 533.5))  // flat
        #expect(near(ReportCharts.lossAxisRange([-2, 2]), -2.5, 2.5))  // a negative value keeps its room
    }

    /// Durations in the report, the plan's estimate, ETAs and `vaelab status`: to about 2 %.
    @Test func durationsReadAsPeopleSayThem() {
        let cases: [(Double, String)] = [
            (0, "0.0 s"), (0.44, "0.4 s"), (9.94, "9.9 s"), (9.96, "10 s"), (59.4, "59 s"), (59.6, "1 min 0 s"),
            (185, "3 min 5 s"), (599.4, "9 min 59 s"),
            (600, "10 min"), (1_488, "25 min"), (3_569, "59 min"), (3_570, "1 h 0 min"), (7_620, "2 h 7 min"),
            (125_640, "34 h 54 min"), (.infinity, "?"), (.nan, "?"), (-1, "?"),
        ]
        for (seconds, text) in cases { #expect(readableDuration(seconds) == text, "\(seconds) s") }
    }

    @Test func sameResultsGiveTheSameBytes() throws {
        let results = try ResultsFixture.makeResults()
        let a = ResultsFixture.scratchDirectory()
        let b = ResultsFixture.scratchDirectory()
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
        let results = try ResultsFixture.makeResults()
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
        let out = ResultsFixture.scratchDirectory() + "/deeper/report"
        let outcome = try ReportGenerator.generate(results: results, out: out)
        let text = try String(contentsOfFile: outcome.reportPath, encoding: .utf8)
        let links = text.matches(of: /\]\(([^)]*\/runs\/[^)]*\.png)\)/).map { String($0.1) }
        #expect(!links.isEmpty)
        for link in links { #expect(FileManager.default.fileExists(atPath: out + "/" + link), "\(link)") }
    }

    @Test func figuresAreLinkedAndCarryTheirRuns() throws {
        let results = try ResultsFixture.makeResults()
        let out = ResultsFixture.scratchDirectory()
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
        let results = try ResultsFixture.makeResults()
        let c = ResultsFixture.config(.vae, d: 16, seed: 0)
        let dir = ResultsStore(root: results).run(c.runID(dataFingerprint: ResultsFixture.fingerprint))
        try AtomicFile.write(
            ResultsFixture.metricsJSON(c, hash: String(repeating: "0", count: 64)), to: dir.metricsPath)
        let outcome = try ReportGenerator.generate(results: results, out: ResultsFixture.scratchDirectory())
        #expect(outcome.runs.invalid == 1)
        let text = try String(contentsOfFile: outcome.reportPath, encoding: .utf8)
        #expect(text.contains("invalid: metrics.json was made with another config"))
    }

    @Test func referenceRunsAppearSeedBySeedBesideVaelabs() throws {
        let results = try ResultsFixture.makeResults()
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
        let outcome = try ReportGenerator.generate(results: results, out: ResultsFixture.scratchDirectory())
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
            _ = try ReportGenerator.generate(results: results, out: ResultsFixture.scratchDirectory())
            Issue.record("accepted a broken reference run")
        } catch let e as ReportError {
            #expect(e.file.hasSuffix("pytorch/broken.json"))
            #expect(!e.description.contains("\n"))
        }
    }

    @Test func badResultsTreesGiveOneLineErrors() throws {
        let missing = ResultsFixture.scratchDirectory() + "/nothing"
        #expect(throws: ReportError.self) {
            try ReportGenerator.generate(results: missing, out: ResultsFixture.scratchDirectory())
        }

        let results = try ResultsFixture.makeResults()
        let summaryPath = results + "/summary.json"
        try AtomicFile.write(#"{"format": "vaelab.summary/9", "studies": []}"#, to: summaryPath)
        do {
            _ = try ReportGenerator.generate(results: results, out: ResultsFixture.scratchDirectory())
            Issue.record("accepted a summary of another format")
        } catch let e as ReportError {
            #expect(e.description == "\(summaryPath): format vaelab.summary/9, expected vaelab.summary/1")
        }
        try AtomicFile.write(#"{"format": "vaelab.summary/1", "studies": [}"#, to: summaryPath)
        #expect(throws: ReportError.self) {
            try ReportGenerator.generate(results: results, out: ResultsFixture.scratchDirectory())
        }

        let results2 = try ResultsFixture.makeResults()
        try AtomicFile.write("{not json", to: results2 + "/studies/reference.json")
        do {
            _ = try ReportGenerator.generate(results: results2, out: ResultsFixture.scratchDirectory())
            Issue.record("accepted a broken study record")
        } catch let e as ReportError {
            #expect(e.file.hasSuffix("studies/reference.json"))
            #expect(!e.description.contains("\n"))
        }
    }
}

@Suite("Figure legends")
struct LegendLineTests {
    /// A legend too wide for its figure breaks into lines that fit, in order; an entry wider than
    /// the figure gets a line of its own.
    @Test func aLongLegendBreaksIntoLinesThatFit() {
        let long = "vae d=2 H=32 β=1 fashion-mnist 3 ep train 2048 test 512"
        var entries = (0..<6).map { ReportCharts.LegendEntry("\(long) #\($0)", .black, []) }
        entries.insert(.init(String(repeating: "x", count: 400), .black, []), at: 3)
        let lines = ReportCharts.legendLines(entries, width: 1_000)
        #expect(lines.flatMap { $0.map(\.entry.label) } == entries.map(\.label))
        #expect(lines.count >= 4)
        for line in lines where line.count > 1 { #expect(line.reduce(0) { $0 + $1.width } <= 1_000) }
        #expect(lines.contains { $0.count == 1 && $0[0].entry.label.hasPrefix("xxx") })
        #expect(ReportCharts.legendLines(Array(entries.prefix(2)), width: 3_000).count == 1)
    }
}

@Suite("Varied settings")
struct VariedSettingTests {
    static func config(_ edit: (inout RunConfig) -> Void) -> RunConfig {
        var c = RunConfig()
        edit(&c)
        return c
    }

    /// The "against" chart's axis: the one setting a study varies, or the first numeric one of
    /// settings that vary together (a zip); none for a grid of two settings or a non-numeric one.
    @Test func aZipIsPlottedAgainstItsFirstNumericSetting() {
        func keys(_ configs: [RunConfig]) -> [String] { ReportGenerator.variedTogether(configs).map(\.key) }
        let zip = [(32, 0.00025), (64, 0.0005), (128, 0.001)].map { b, lr in
            Self.config { ($0.batchSize, $0.learningRate) = (b, lr) }
        }
        #expect(keys(zip) == ["batch_size", "learning_rate"])
        #expect(keys([0.5, 1, 2].map { b in Self.config { $0.beta = b } }) == ["beta"])
        let grid = [(ModelKind.vae, 2), (.vae, 16), (.ae, 2), (.ae, 16)].map { m, d in
            Self.config { ($0.model, $0.latentDim) = (m, d) }
        }
        #expect(keys(grid).isEmpty)
        #expect(keys([Self.config { $0.model = .ae }, Self.config { $0.model = .vae }]).isEmpty)
        let likelihoods = [Likelihood.bernoulli, .continuousBernoulli].enumerated().map { i, l in
            Self.config { ($0.likelihood, $0.latentDim) = (l, 2 + 14 * i) }
        }
        #expect(keys(likelihoods) == ["latent_dim", "likelihood"])
        #expect(keys([RunConfig()]).isEmpty)
    }
}
