import Experiments
import Figures
import Foundation
import Testing
import Training

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "vaelab-runner-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

let tinyBase =
    #""base": {"hidden_units": 16, "epochs": 2, "batch_size": 64, "train_limit": 512, "test_limit": 256, "#
    + #""iwae_samples": 4}"#

func tinySpec(_ name: String, _ rest: String) throws -> StudySpec {
    try SpecParser.parse(Array("{\"name\": \"\(name)\", \(tinyBase), \(rest)}".utf8), file: "\(name).json")
}

func runStudy(
    _ specs: [StudySpec], results: String, jobs: Int = 1, force: Bool = false,
    shard: (Int, Int)? = nil
) throws -> (Plan, RunnerOutcome) {
    var options = RunnerOptions(jobs: jobs)
    options.resultsRoot = results
    options.force = force
    options.shard = shard
    let runner = Runner(specs: specs, options: options)
    let plan = try runner.plan()
    return (plan, try runner.execute(plan, onEvent: { _ in }))
}

func metricsFiles(_ results: String) throws -> [String: Data] {
    let runs = results + "/runs"
    var out: [String: Data] = [:]
    for id in try FileManager.default.contentsOfDirectory(atPath: runs) {
        if let d = FileManager.default.contents(atPath: "\(runs)/\(id)/metrics.json") { out[id] = d }
    }
    return out
}

@Suite("Runner", .serialized)
struct RunnerTests {
    @Test func finishedRunsAreSkippedAndForceRetrains() throws {
        let results = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: results) }
        let spec = try tinySpec("skip", #""grid": {"model": ["vae", "ae"]}"#)
        let (plan1, outcome1) = try runStudy([spec], results: results)
        #expect(plan1.toRun.count == 2 && outcome1.finished.count == 2 && outcome1.failed.isEmpty)
        let before = try metricsFiles(results)
        let (plan2, outcome2) = try runStudy([spec], results: results)
        #expect(plan2.toRun.isEmpty && plan2.entries.allSatisfy { $0.action == .cached })
        #expect(outcome2.finished.isEmpty)
        let (plan3, _) = try runStudy([spec], results: results, force: true)
        #expect(plan3.toRun.count == 2)
        #expect(try metricsFiles(results) == before)
        // No checkpoint, temp file or failure record is left in a finished run.
        for id in before.keys {
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(results)/runs/\(id)")
            #expect(
                Set(files.filter { !$0.hasPrefix(".lock") }) == [
                    "config.json", "metrics.json", "timing.json", "model.safetensors", "figures",
                ], "\(files)")
        }
    }

    @Test func finishedRunsGetTheirFiguresAndMissingOnesAreRedrawn() throws {
        let results = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: results) }
        let spec = try tinySpec("figures", #""grid": {"model": ["vae", "ae"]}"#)
        let (plan, outcome) = try runStudy([spec], results: results)
        #expect(outcome.finished.count == 2 && outcome.figureErrors.isEmpty)
        var originals: [String: Data] = [:]
        for entry in plan.entries {
            let dir = ResultsStore(root: results).run(entry.id)
            #expect(RunFigures.complete(dir, config: entry.config))
            for name in RunFigures.names(for: entry.config) {
                let path = dir.figuresPath + "/" + name
                let image = try PNG.read(path)
                #expect(image.text["vaelab.run_id"] == entry.id)
                #expect(image.text["vaelab.config_hash"] == entry.config.hash)
                originals[path] = FileManager.default.contents(atPath: path)
            }
            #expect(RunFigures.names(for: entry.config).contains(RunFigures.manifold))  // d = 2
        }
        // Deleted figures are redrawn from the saved weights, pixel for pixel (figures only: nothing retrains).
        for path in originals.keys { try FileManager.default.removeItem(atPath: path) }
        var options = RunnerOptions(jobs: 1)
        options.resultsRoot = results
        options.figuresOnly = true
        let runner = Runner(specs: [spec], options: options)
        let again = try runner.execute(try runner.plan(), onEvent: { _ in })
        #expect(again.finished.isEmpty && again.figureErrors.isEmpty)
        for (path, bytes) in originals { #expect(FileManager.default.contents(atPath: path) == bytes, "\(path)") }
    }

    @Test func parallelAndSerialGiveByteIdenticalMetrics() throws {
        let serial = temporaryDirectory()
        let parallel = temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: serial)
            try? FileManager.default.removeItem(atPath: parallel)
        }
        let spec = try tinySpec("par", #""grid": {"model": ["vae", "ae"], "latent_dim": [2, 3]}, "seeds": [0, 1]"#)
        _ = try runStudy([spec], results: serial, jobs: 1)
        let (_, outcome) = try runStudy([spec], results: parallel, jobs: 2)
        #expect(outcome.finished.count == 8)
        let a = try metricsFiles(serial)
        let b = try metricsFiles(parallel)
        #expect(a.count == 8 && a == b)
        // The summaries match too, and group the seeds: 4 groups of n = 2.
        let sa = FileManager.default.contents(atPath: serial + "/summary.json")
        #expect(sa != nil && sa == FileManager.default.contents(atPath: parallel + "/summary.json"))
        let summary = try JSONDecoder().decode(Summary.self, from: sa!)
        #expect(summary.studies.count == 1 && summary.studies[0].groups.count == 4)
        #expect(
            summary.studies[0].groups.allSatisfy {
                $0.done == 2 && $0.metrics["test_total"]?.n == 2 && $0.metrics["test_total"]?.std != nil
            })
        let markdown = try String(contentsOfFile: serial + "/summary.md", encoding: .utf8)
        #expect(markdown.contains("## par") && markdown.contains("vae d=3 H=16 β=1") && markdown.contains(" ± "))
    }

    @Test func shardsPartitionThePlan() throws {
        let results = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: results) }
        let spec = try tinySpec("shard", #""grid": {"latent_dim": [2, 3, 4, 5, 6, 7, 8]}"#)
        var seen: [String] = []
        for k in 1...3 {
            var options = RunnerOptions(jobs: 1)
            options.resultsRoot = results
            options.shard = (k, 3)
            let plan = try Runner(specs: [spec], options: options).plan()
            #expect(plan.entries.count >= 2 && plan.entries.count <= 3)
            seen += plan.entries.map(\.id)
        }
        #expect(seen.count == 7 && Set(seen).count == 7)
    }

    @Test func aDivergingRunFailsAloneAndIsRecorded() throws {
        let results = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: results) }
        let spec = try tinySpec("fail", #""runs": [{"model": "ae"}, {"learning_rate": 10, "beta": 1000000}]"#)
        let (_, outcome) = try runStudy([spec], results: results, jobs: 2)
        #expect(outcome.finished.count == 1 && outcome.failed.count == 1)
        let failedID = try #require(outcome.failed.first?.id)
        #expect(outcome.failed[0].message.contains("epoch 1, batch"))
        let failure = try JSONDecoder().decode(
            RunFailure.self,
            from: try #require(FileManager.default.contents(atPath: "\(results)/runs/\(failedID)/failure.json")))
        #expect(failure.epoch == 1 && (failure.batch ?? 0) >= 1)
        #expect(!FileManager.default.fileExists(atPath: "\(results)/runs/\(failedID)/metrics.json"))
        // The next run retries it (and fails again), the finished one stays cached.
        var options = RunnerOptions(jobs: 1)
        options.resultsRoot = results
        let plan = try Runner(specs: [spec], options: options).plan()
        #expect(plan.entries.filter { $0.action == .cached }.count == 1)
        #expect(plan.entries.first { $0.id == failedID }?.action == .retrain)
    }

    @Test func editedOrCorruptMetricsAreDetectedAndRetrained() throws {
        let results = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: results) }
        let spec = try tinySpec("edit", #""grid": {"latent_dim": [2, 3, 4]}"#)
        _ = try runStudy([spec], results: results)
        let ids = try metricsFiles(results).keys.sorted()
        // A damaged timing.json would switch the edit check off, so it makes the run untrusted too.
        try Data("{\"total_seconds\": ".utf8).write(to: URL(fileURLWithPath: "\(results)/runs/\(ids[2])/timing.json"))
        let edited = "\(results)/runs/\(ids[0])/metrics.json"
        var text = try String(contentsOfFile: edited, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"knn_accuracy\" : 0.", with: "\"knn_accuracy\" : 0.9")
        try text.write(toFile: edited, atomically: true, encoding: .utf8)
        try Data("{\"format\": ".utf8).write(to: URL(fileURLWithPath: "\(results)/runs/\(ids[1])/metrics.json"))
        var options = RunnerOptions(jobs: 1)
        options.resultsRoot = results
        let plan = try Runner(specs: [spec], options: options).plan()
        let notes = Dictionary(uniqueKeysWithValues: plan.entries.map { ($0.id, $0.note ?? "") })
        #expect(plan.entries.allSatisfy { $0.action == .retrain })
        #expect(notes[ids[0]]!.contains("modified after the run"), "\(notes)")
        #expect(notes[ids[1]]!.contains("not a complete metrics file"), "\(notes)")
        #expect(notes[ids[2]]!.contains("timing.json is damaged"), "\(notes)")
    }

    @Test func aRunSharedByTwoStudiesIsTrainedOnce() throws {
        let results = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: results) }
        let a = try tinySpec("a", #""grid": {"latent_dim": [2, 3]}"#)
        let b = try tinySpec("b", #""grid": {"latent_dim": [3, 4]}"#)
        let (plan, outcome) = try runStudy([a, b], results: results, jobs: 2)
        #expect(plan.entries.count == 3 && outcome.finished.count == 3)
        #expect(plan.entries.first { $0.config.latentDim == 3 }?.studies == ["a", "b"])
        let summary = try JSONDecoder().decode(
            Summary.self, from: try #require(FileManager.default.contents(atPath: results + "/summary.json")))
        #expect(summary.studies.map(\.name) == ["a", "b"])
    }
}
