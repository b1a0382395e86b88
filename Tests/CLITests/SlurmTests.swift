import Foundation
import Testing

/// `vaelab slurm` against a real one-node Slurm (slurmctld, slurmd, munged) that the suite
/// starts itself (`slurm-cluster.sh`, root and `make setup`'s packages) and stops at the end.
@Suite("vaelab slurm on a real Slurm", .serialized)
final class SlurmTests {
    let state = CLI.temporaryDirectory()
    let script = CLI.root.appendingPathComponent("Tests/CLITests/slurm-cluster.sh").path
    var environment: [String: String] { ["SLURM_CONF": state + "/slurm.conf"] }

    init() throws {
        let started = try Self.shell([script, "start", state])
        try #require(started.status == 0, "could not start Slurm (root and `make setup` needed): \(started.output)")
    }

    deinit {
        _ = try? Self.shell([script, "stop", state])
        try? FileManager.default.removeItem(atPath: state)
    }

    static func shell(_ arguments: [String], environment: [String: String] = [:]) throws -> (
        status: Int32, output: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        (process.standardOutput, process.standardError) = (pipe, pipe)
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// Polls `squeue` until no job is left (or `seconds` pass).
    func waitForEmptyQueue(_ seconds: Double = 300) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let queue = try Self.shell(["squeue", "-h"], environment: environment)
            if queue.status == 0 && queue.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return }
            usleep(500_000)
        }
        Issue.record("the queue did not drain in \(seconds) s")
    }

    func jobStates() -> String { (try? String(contentsOfFile: state + "/log/jobcomp.txt", encoding: .utf8)) ?? "" }

    /// Four runs and one that diverges, two at a time: the four finish once with the metrics of
    /// a local `vaelab run`, the report job writes the report, the diverged task is FAILED in
    /// Slurm and in `vaelab status`, and `resubmit` submits exactly that one.
    @Test func submitTrainsEveryRunOnceAndResubmitTakesOnlyTheFailedOne() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(
            tmp,
            #"""
            {"name": "cluster", "base": {"latent_dim": 2, "hidden_units": 16, "epochs": 2, "batch_size": 64,
             "train_limit": 512, "test_limit": 128, "iwae_samples": 2}, "grid": {"seed": [0, 1, 2, 3]},
             "runs": [{"learning_rate": 10, "seed": 9}]}
            """#)
        let (results, report) = (tmp + "/cluster", tmp + "/report")
        let submit = try CLI.run(
            ["slurm", "submit", spec, "--results", results, "--report", report, "--max-parallel", "2"],
            environment: environment)
        #expect(submit.status == 0, "\(submit.stderr)")
        #expect(submit.stdout.contains("submitted 5 run(s)") && submit.stderr.contains("under /tmp"), "\(submit)")
        try waitForEmptyQueue()

        let local = try CLI.run(["run", spec, "--results", tmp + "/local"])
        #expect(local.status == 1, "the diverging run fails locally too")
        let ids = try FileManager.default.contentsOfDirectory(atPath: tmp + "/local/runs").sorted()
        let finished = ids.filter { FileManager.default.fileExists(atPath: tmp + "/local/runs/\($0)/metrics.json") }
        #expect(finished.count == 4)
        for id in finished {
            let a = FileManager.default.contents(atPath: tmp + "/local/runs/\(id)/metrics.json")
            let b = FileManager.default.contents(atPath: results + "/runs/\(id)/metrics.json")
            #expect(a != nil && a == b, "\(id): metrics differ from the local run's")
        }
        #expect(FileManager.default.fileExists(atPath: report + "/REPORT.md"))
        #expect(FileManager.default.fileExists(atPath: results + "/summary.md"))
        let states = jobStates()
        #expect(states.components(separatedBy: "JobState=FAILED").count == 2, "\(states)")

        let status = try CLI.run(["status", spec, "--results", results])
        #expect(status.stdout.contains("5 runs: 4 done, 1 failed"), "\(status.stdout)")
        #expect(status.stdout.contains("training diverged"))

        let resubmit = try CLI.run(["slurm", "resubmit", "--results", results], environment: environment)
        #expect(resubmit.status == 0 && resubmit.stdout.contains("submitted 1 run(s)"), "\(resubmit)")
        try waitForEmptyQueue()
        let again = try CLI.run(["status", spec, "--results", results])
        #expect(again.stdout.contains("5 runs: 4 done, 1 failed"), "\(again.stdout)")
    }

    /// A task warned with SIGUSR1 (as `--signal=B:USR1@120` does before a time limit) stops at a
    /// batch boundary, requeues itself, resumes from its checkpoint on the node, and ends with the
    /// metrics of an uninterrupted run.
    @Test func preemptedTaskRequeuesAndResumesToIdenticalMetrics() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(
            tmp,
            #"""
            {"name": "preempt", "base": {"latent_dim": 2, "hidden_units": 32, "epochs": 4, "batch_size": 64,
             "train_limit": 3000, "test_limit": 500, "iwae_samples": 4}}
            """#)
        let results = tmp + "/cluster"
        let submit = try CLI.run(
            ["slurm", "submit", spec, "--results", results, "--report", tmp + "/report"], environment: environment)
        #expect(submit.status == 0, "\(submit.stderr)")
        let array = try #require(submit.stdout.firstMatch(of: /array job (\d+)/)?.1)
        let deadline = Date().addingTimeInterval(120)
        func checkpoint() -> Bool {
            let runs = (try? FileManager.default.contentsOfDirectory(atPath: results + "/runs")) ?? []
            return runs.contains {
                FileManager.default.fileExists(atPath: results + "/runs/\($0)/checkpoint.safetensors")
            }
        }
        while !checkpoint() && Date() < deadline { usleep(50_000) }
        let signal = try Self.shell(["scancel", "--signal=USR1", "--batch", "\(array)_0"], environment: environment)
        #expect(signal.status == 0, "\(signal.output)")
        try waitForEmptyQueue()

        let log = (try? String(contentsOfFile: try #require(Self.taskLog(results)), encoding: .utf8)) ?? ""
        #expect(log.contains("stopped by SIGUSR1") && log.contains("requeued job"), "\(log)")
        #expect(log.contains("resuming after epoch"), "\(log)")
        #expect(try CLI.run(["run", spec, "--results", tmp + "/local"]).status == 0)
        let id = try #require(try FileManager.default.contentsOfDirectory(atPath: tmp + "/local/runs").first)
        let a = FileManager.default.contents(atPath: tmp + "/local/runs/\(id)/metrics.json")
        #expect(a != nil && a == FileManager.default.contents(atPath: results + "/runs/\(id)/metrics.json"))
    }

    static func taskLog(_ results: String) -> String? {
        let dir = results + "/slurm"
        guard let submission = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.first else { return nil }
        return dir + "/\(submission)/logs/task-0.log"
    }
}

@Suite("vaelab slurm without a cluster")
struct SlurmSubmitErrorTests {
    @Test(arguments: [
        (["--time", "soon"], "--time: expected"), (["--max-parallel", "0"], "--max-parallel: expected"),
        (["--mem", "lots"], "--mem: expected"), (["--partition", "a b"], "--partition: expected"),
        (["--sbatch-arg", "constraint=x"], "--sbatch-arg: expected"),
    ])
    func badFlagsAreOneLineAndWriteNothing(_ flags: [String], _ mention: String) throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(tmp, #"{"name": "x", "base": {"epochs": 1, "train_limit": 64}}"#)
        let result = try CLI.run(["slurm", "submit", spec, "--results", tmp + "/results", "--dry-run"] + flags)
        #expect(result.status == 1 && result.stderr.contains(mention), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: tmp + "/results"))
    }

    @Test func missingSbatchIsOneLineAndSubmitsNothing() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(tmp, #"{"name": "x", "base": {"epochs": 1, "train_limit": 64}}"#)
        let result = try CLI.run(
            ["slurm", "submit", spec, "--results", tmp + "/results"], environment: ["PATH": "/nonexistent"])
        #expect(result.status == 1 && result.stderr.contains("sbatch: not found on PATH"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: tmp + "/results"))
    }

    /// A task whose run another process finished, or is training, exits 0 and says so.
    @Test func taskOfAFinishedOrBusyRunExitsZero() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(
            tmp,
            #"""
            {"name": "x", "base": {\#(CLI.tinyBase), "iwae_samples": 2}, "seeds": [0, 1]}
            """#)
        let results = tmp + "/results"
        #expect(try CLI.run(["slurm", "submit", spec, "--results", results, "--dry-run"]).status == 0)
        let submission = try #require(try FileManager.default.contentsOfDirectory(atPath: results + "/slurm").first)
        let dir = results + "/slurm/" + submission
        #expect(try CLI.run(["run", spec, "--results", results]).status == 0)
        let done = try CLI.run(["slurm", "task", dir, "--index", "0"])
        #expect(done.status == 0 && done.stdout.contains("already finished; nothing to do"), "\(done)")

        let runs = try FileManager.default.contentsOfDirectory(atPath: results + "/runs").sorted()
        let plan = try String(contentsOfFile: dir + "/plan.json", encoding: .utf8)
        let second = try #require(runs.first { plan.contains($0) && !done.stdout.contains($0) })
        try FileManager.default.removeItem(atPath: "\(results)/runs/\(second)/metrics.json")
        let fd = open("\(results)/runs/\(second)/.lock", O_RDWR | O_CREAT, 0o644)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX) == 0)
        let busy = try CLI.run(["slurm", "task", dir, "--index", "1"])
        #expect(busy.status == 0 && busy.stdout.contains("being trained by a live process"), "\(busy)")
    }

    /// --dry-run freezes the unfinished runs in plan.json and writes both scripts, submitting nothing.
    @Test func dryRunWritesThePlanAndScripts() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(
            tmp, #"{"name": "x", "base": {"epochs": 1, "train_limit": 64, "test_limit": 64}, "seeds": [0, 1, 2]}"#)
        let result = try CLI.run(
            [
                "slurm", "submit", spec, "--results", tmp + "/results", "--dry-run", "--max-parallel", "2", "--time",
                "1:00:00",
                "--partition", "gpu", "--sbatch-arg=--constraint=avx512",
            ])
        #expect(result.status == 0, "\(result.stderr)")
        for line in [
            "#SBATCH --array=0-2%2", "#SBATCH --requeue", "#SBATCH --open-mode=append", "#SBATCH --signal=B:USR1@120",
            "#SBATCH --time=1:00:00", "#SBATCH --partition=gpu", "#SBATCH --constraint=avx512", "logs/task-%a.log",
            "slurm task", "slurm finish",
        ] {
            #expect(result.stdout.contains(line), "missing \(line)")
        }
        let dir = try #require(try FileManager.default.contentsOfDirectory(atPath: tmp + "/results/slurm").first)
        let plan = try JSONSerialization.jsonObject(
            with: try Data(contentsOf: URL(fileURLWithPath: tmp + "/results/slurm/\(dir)/plan.json")))
        let runs = try #require((plan as? [String: Any])?["runs"] as? [[String: Any]])
        #expect(runs.count == 3)
        #expect(!FileManager.default.fileExists(atPath: tmp + "/results/slurm/\(dir)/submission.json"))
    }
}
