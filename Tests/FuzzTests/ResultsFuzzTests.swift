import Datasets
import Experiments
import Foundation
import NeuralNet
import Report
import Support
import Testing
import Training

/// The readers behind `vaelab diff` and `vaelab report`: summary.json, study records and metrics
/// verification.
@Suite("Fuzz: summaries, results and metrics")
struct ResultsFuzzTests {
    static let baseline: Summary? = try? SummaryDiff.decode(
        Data(Corpus.smallSummary.utf8), revision: "A", path: "a.json")

    @Test func summaryDiffDecode() throws {
        let corpus = Corpus.summaries
        for (i, file) in corpus.enumerated() {
            #expect(throws: Never.self, "corpus summary \(i) decodes") {
                _ = try SummaryDiff.decode(Data(file), revision: SummaryDiff.worktree, path: "results/summary.json")
            }
        }
        let baseline = try #require(Self.baseline)
        var renderErrors: [String: Int] = [:]
        let tally = runFuzz(
            target: "summary-diff", corpus: corpus, json: true,
            classify: { error in
                guard let e = error as? DiffError else { return nil }
                #expect(!e.description.contains("\n"), "a multi-line DiffError: \(e.description)")
                return "DiffError.\(e.kind)"
            }
        ) { input in
            let b = try SummaryDiff.decode(Data(input), revision: "HEAD~1", path: "results/summary.json")
            // What `vaelab diff` does next with it, both ways round, in every format.
            for diff in [
                SummaryDiff(a: baseline, b: b), SummaryDiff(a: b, b: baseline), SummaryDiff(a: b, b: b).changedOnly(),
            ] {
                _ = diff.text(labelA: "A", labelB: "B")
                _ = diff.markdown(labelA: "A", labelB: "B")
                do { _ = try diff.json(labelA: "A", labelB: "B") } catch {
                    renderErrors[errorCategory(error), default: 0] += 1
                    Issue.record("--format json could not render: \(error)")
                }
            }
            #expect(SummaryDiff(a: b, b: b).isEmpty, "a summary differs from itself: \(describeInput(input))")
        }
        if !renderErrors.isEmpty { print("fuzz summary-diff: --format json could not render: \(renderErrors)") }
        #expect(tally.accepted >= corpus.count)
    }

    @Test func resultsTreeReadSummary() throws {
        let scratch = try FuzzScratch("summary")
        defer { scratch.remove() }
        let path = scratch.file("summary.json")
        let tally = runFuzz(
            target: "results-summary", corpus: Corpus.summaries, json: true,
            classify: { error in
                error is ReportError ? "ReportError" : nil
            }
        ) { input in
            try scratch.write("summary.json", input)
            let summary = try ResultsTree.readSummary(path)
            #expect(summary.format == Summary.currentFormat, "\(describeInput(input))")
        }
        #expect(tally.accepted >= Corpus.summaries.count)
        #expect(throws: ReportError.self) { try ResultsTree.readSummary(scratch.file("missing.json")) }
    }

    /// `vaelab report`'s whole reader on a results tree whose study record is mutated.
    @Test func resultsTreeStudyRecords() throws {
        let scratch = try FuzzScratch("tree")
        defer { scratch.remove() }
        try FileManager.default.createDirectory(atPath: scratch.file("studies"), withIntermediateDirectories: true)
        try scratch.write("summary.json", Array(Corpus.smallSummary.utf8))
        let tally = runFuzz(
            target: "results-studies", corpus: [Array(Corpus.studyRecord.utf8)], json: true,
            iterations: FuzzSettings.iterations / 5, classify: { $0 is ReportError ? "ReportError" : nil }
        ) { input in
            try scratch.write("studies/s.json", input)
            let tree = try ResultsTree(root: scratch.path)
            #expect(tree.studies.count == 1)
            #expect(tree.runs.allSatisfy { $0.status == .missing || $0.status == .invalid || $0.status == .failed })
        }
        #expect(tally.accepted >= 1)
    }

    @Test func verifyMetrics() throws {
        let run = try #require(RunFiles.committed, "no finished run under results/runs")
        let config = try JSONDecoder().decode(RunConfig.self, from: Data(run.config))
        let metrics = try JSONDecoder().decode(RunMetrics.self, from: Data(run.metrics))
        let scratch = try FuzzScratch("metrics")
        defer { scratch.remove() }
        let dir = RunDirectory(scratch.path)
        // timing.json as `vaelab run` writes it now, with the SHA-256 of metrics.json (older
        // committed runs predate that field).
        var timingValue = try JSONDecoder().decode(RunTiming.self, from: Data(try #require(run.timing)))
        timingValue.metricsSHA256 = sha256Hex(run.metrics)
        let timing = [UInt8](try CanonicalJSON.encode(timingValue))
        // Unmutated: the committed run verifies.
        try scratch.write("metrics.json", run.metrics)
        try scratch.write("timing.json", timing)
        guard case .success = dir.verifyMetrics(config: config, dataFingerprint: metrics.dataFingerprint) else {
            Issue.record("the committed run \(run.id) does not verify")
            return
        }
        // Two passes: metrics.json mutated (timing.json as committed), then timing.json mutated.
        func classify(_ error: any Error) -> String? {
            guard let problem = error as? RunDirectory.MetricsProblem else { return nil }
            return "MetricsProblem(" + problem.reason.split(separator: " ").dropFirst().prefix(3).joined(separator: " ")
                + ")"
        }
        var tamperedAccepted = 0
        let tally = runFuzz(
            target: "metrics", corpus: [run.metrics], json: true, iterations: FuzzSettings.iterations / 5,
            classify: classify
        ) { input in
            try scratch.write("metrics.json", input)
            let m = try dir.verifyMetrics(config: config, dataFingerprint: metrics.dataFingerprint).get()
            #expect(m.epochs.count == config.epochs && m.configHash == config.hash)
            // timing.json records the SHA-256 of metrics.json: an edited metrics.json never verifies.
            if input != run.metrics {
                tamperedAccepted += 1
                Issue.record("edited metrics.json verified: \(describeInput(input))")
            }
        }
        #expect(tally.accepted >= 1 && tamperedAccepted == 0)
        // Without a recorded SHA-256 (as in older runs) an edited metrics.json meets the
        // content checks: format, config hash, data fingerprint, epoch count.
        var unsigned = timingValue
        unsigned.metricsSHA256 = nil
        try scratch.write("timing.json", [UInt8](try CanonicalJSON.encode(unsigned)))
        runFuzz(
            target: "metrics-unsigned", corpus: [run.metrics], json: true, iterations: FuzzSettings.iterations / 5,
            classify: classify
        ) { input in
            try scratch.write("metrics.json", input)
            let m = try dir.verifyMetrics(config: config, dataFingerprint: metrics.dataFingerprint).get()
            #expect(
                m.format == RunMetrics.currentFormat && m.epochs.count == config.epochs && m.configHash == config.hash)
        }
        try scratch.write("metrics.json", run.metrics)
        runFuzz(
            target: "metrics-timing", corpus: [timing], json: true, iterations: FuzzSettings.iterations / 10,
            classify: classify
        ) { input in
            try scratch.write("timing.json", input)
            _ = try dir.verifyMetrics(config: config, dataFingerprint: metrics.dataFingerprint).get()
        }
    }
}
