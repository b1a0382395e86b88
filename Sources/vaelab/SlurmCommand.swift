import ArgumentParser
import Datasets
import Experiments
import Foundation
import Report
import Support

struct SlurmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm",
        abstract: "Train studies on a Slurm cluster: submit, and walk away.",
        discussion: """
            Examples:
              vaelab slurm submit experiments/reference.json --partition cpu --time 2:00:00
              vaelab status
              vaelab slurm resubmit
            """,
        subcommands: [Submit.self, Resubmit.self, Task.self, Finish.self])

    /// The `#SBATCH` flags of submit and resubmit.
    struct Flags: ParsableArguments {
        @Option(help: "Partition (sbatch --partition; default: the cluster's).") var partition: String?
        @Option(help: "Time limit per run: minutes, HH:MM:SS or D-HH:MM:SS (sbatch --time; default: the partition's).")
        var time: String?
        @Option(help: "Runs at a time (the array's %N; default: no limit).") var maxParallel: Int?
        @Option(help: "CPUs per task (vaelab trains on one; more only reserves).") var cpusPerTask = 1
        @Option(help: "Memory per task, e.g. 4G (sbatch --mem; default: the partition's).") var mem: String?
        @Option(help: "Account (sbatch --account; default: yours).") var account: String?
        @Option(help: "Quality of service (sbatch --qos; default: the account's).") var qos: String?
        @Option(help: "Any other sbatch option, e.g. --sbatch-arg=--constraint=avx512 (repeatable; default: none).")
        var sbatchArg: [String] = []

        var options: SlurmOptions {
            var o = SlurmOptions()
            (o.partition, o.time, o.maxParallel, o.cpusPerTask) = (partition, time, maxParallel, cpusPerTask)
            (o.mem, o.account, o.qos, o.extra) = (mem, account, qos, sbatchArg)
            return o
        }
    }

    /// Fails with one line.
    static func fail(_ command: String, _ message: String, code: Int32 = 1) -> ExitCode {
        CleanExit.failure("vaelab slurm \(command): \(message)", code: code)
    }

    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
    }

    /// This binary's absolute path, for the job scripts.
    static var binary: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? absolute(
                CommandLine.arguments[0])
    }

    /// Writes a submission for `runs` and submits it unless `dryRun`; prints what happened.
    static func launch(
        _ command: String, runs: [SlurmPlan.Run], fingerprints: [String: String], results: String, report: String,
        dataDirectories: [String: String], options: SlurmOptions, dryRun: Bool
    ) throws {
        try check(command, options, dryRun: dryRun)
        try write(command, runs, fingerprints, results, report, dataDirectories, options, dryRun)
    }

    /// Bad flags, or no sbatch to submit with: one line, before anything is written.
    static func check(_ command: String, _ options: SlurmOptions, dryRun: Bool) throws {
        if let problem = options.problem() { throw fail(command, problem) }
        if !dryRun && SlurmBackend.findTool("sbatch") == nil {
            throw fail(command, "sbatch: not found on PATH (run this on a Slurm login node); nothing submitted")
        }
    }

    private static func write(
        _ command: String, _ runs: [SlurmPlan.Run], _ fingerprints: [String: String], _ results: String,
        _ report: String, _ dataDirectories: [String: String], _ options: SlurmOptions, _ dryRun: Bool
    ) throws {
        if results.contains(where: { $0.isWhitespace || $0 == "'" }) {
            throw fail(command, "\(results): the results path must not contain spaces or quotes (job scripts name it)")
        }
        if results.hasPrefix("/tmp/") {
            FileHandle.standardError.write(
                Data("warning: \(results) is under /tmp, which other nodes usually cannot see\n".utf8))
        }
        let (directory, plan) = try SlurmBackend.prepare(
            runs: runs, fingerprints: fingerprints, results: results, report: report, dataDirectories: dataDirectories,
            options: options, binary: binary)
        if dryRun {
            for name in ["array.sbatch", "report.sbatch"] {
                print("==> \(directory)/\(name) <==")
                print(try String(contentsOfFile: directory + "/" + name, encoding: .utf8))
            }
            print("dry run: \(plan.runs.count) run(s) written to \(directory), nothing submitted")
            return
        }
        let record: SlurmSubmissionRecord
        do { record = try SlurmBackend.submit(directory: directory) } catch {
            if !FileManager.default.fileExists(atPath: directory + "/submission.json") {
                try? FileManager.default.removeItem(atPath: directory)  // nothing was queued
            }
            throw fail(command, "\(error)")
        }
        print("submitted \(plan.runs.count) run(s): array job \(record.arrayJob), report job \(record.reportJob)")
        print("plan and scripts: \(directory)")
        print("logs: \(directory)/logs/task-<i>.log (task i trains runs[i] of plan.json), report.log")
        print("watch: vaelab status --results \(results)   (or: squeue -j \(record.arrayJob),\(record.reportJob))")
    }
}

extension SlurmCommand {
    struct Submit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Freeze the unfinished runs of the specs and submit them as one array job, then the report.",
            discussion: """
                Expands the specs as `vaelab run` does; finished runs are skipped. The runs left are \
                frozen in <results>/slurm/<submission>/plan.json (array task i trains runs[i]), with \
                array.sbatch and report.sbatch beside it; `sbatch` submits the array and a report job \
                that runs after it (afterany) and writes summary.* and the report. Returns at once.

                Examples:
                  vaelab slurm submit experiments/reference.json --time 1:00:00 --max-parallel 8
                  vaelab slurm submit experiments/*.json --dry-run
                """)

        @Argument(help: "Study specs.") var specs: [String]
        @Option(help: "Results directory, on a filesystem every node sees.") var results = "results"
        @Option(help: "Report directory written by the report job.") var report = "report"
        @Option(help: "Directory holding the dataset files (default: $VAELAB_DATA_DIR, ./data/<dataset>).")
        var dataDir: String?
        @OptionGroup var flags: Flags
        @Flag(help: "Write and print the scripts without submitting.") var dryRun = false

        /// Where each dataset of the runs is read from here, absolute: the tasks read the same files.
        func dataDirectories(_ runs: [SlurmPlan.Run]) throws -> [String: String] {
            var out: [String: String] = [:]
            for name in Set(runs.map(\.config.dataset)) {
                guard let dataset = DatasetName(rawValue: name) else { continue }
                out[name] = SlurmCommand.absolute(try loadDataset(dataset, directory: dataDir).directory)
            }
            return out
        }

        func run() throws {
            try SlurmCommand.check("submit", flags.options, dryRun: dryRun)
            let loaded: [StudySpec]
            let plan: Plan
            do {
                loaded = try specs.filter { !$0.hasSuffix(".schema.json") }.map(SpecParser.load)
                var options = RunnerOptions(jobs: 1)
                options.resultsRoot = SlurmCommand.absolute(results)
                options.dataDirectory = dataDir.map(SlurmCommand.absolute)
                let runner = Runner(specs: loaded, options: options)
                plan = try runner.plan()
                let runs = plan.toRun.map { SlurmPlan.Run(id: $0.id, config: $0.config, studies: $0.studies) }
                guard !runs.isEmpty else {
                    print("nothing to run: all \(plan.entries.count) run(s) are finished; nothing submitted")
                    return
                }
                if !dryRun { try runner.recordStudies(plan) }
                try SlurmCommand.launch(
                    "submit", runs: runs, fingerprints: plan.dataFingerprints, results: options.resultsRoot,
                    report: SlurmCommand.absolute(report), dataDirectories: try dataDirectories(runs),
                    options: flags.options, dryRun: dryRun)
            } catch let error as ExitCode {
                throw error
            } catch {
                throw SlurmCommand.fail("submit", "\(error)", code: 2)
            }
        }
    }

    struct Resubmit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Submit again exactly the runs of a submission that are failed or missing.",
            discussion: """
                Reads <results>/slurm/<submission>/plan.json (default: the latest submission), keeps \
                the runs that are neither finished nor being trained, and submits them as a new \
                array with the same settings and a new report job.

                Examples:
                  vaelab slurm resubmit
                  vaelab slurm resubmit results/slurm/<submission> --dry-run
                """)

        @Argument(help: "Submission directory or id (default: the latest).") var submission: String?
        @Option(help: "Results directory.") var results = "results"
        @Flag(help: "Write and print the scripts without submitting.") var dryRun = false

        func run() throws {
            let root = SlurmCommand.absolute(results)
            let directory: String
            if let submission {
                directory =
                    submission.contains("/")
                    ? SlurmCommand.absolute(submission)
                    : SlurmBackend.submissionsDirectory(results: root) + "/"
                        + submission
            } else if let latest = SlurmBackend.latest(results: root) {
                directory = latest
            } else {
                throw SlurmCommand.fail("resubmit", "\(root)/slurm: no submissions")
            }
            let plan: SlurmPlan
            do { plan = try SlurmPlan.read(directory: directory) } catch {
                throw SlurmCommand.fail("resubmit", "\(error)")
            }
            let runs = SlurmBackend.unfinished(plan)
            guard !runs.isEmpty else {
                print("nothing to resubmit: every run of \(plan.submission) is finished or being trained")
                return
            }
            try SlurmCommand.launch(
                "resubmit", runs: runs, fingerprints: plan.dataFingerprints, results: plan.results,
                report: plan.report, dataDirectories: plan.dataDirectories, options: plan.options, dryRun: dryRun)
        }
    }
}

extension SlurmCommand {
    struct Task: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One array task (run by array.sbatch): train run $SLURM_ARRAY_TASK_ID of a submission.",
            discussion: """
                Exit 0: trained, or already finished / being trained elsewhere (nothing to do). A \
                stop signal (SIGUSR1 before the time limit, SIGTERM on preemption) stops at a batch \
                boundary with the last epoch checkpoint kept, requeues the task (scontrol requeue) \
                and exits 128 + the signal. A failure leaves failure.json and exits 1.

                Examples:
                  vaelab slurm task results/slurm/<submission> --index 3   (retry task 3 by hand)
                """)

        @Argument(help: "The submission directory.") var directory: String
        @Option(help: "Task index (default: $SLURM_ARRAY_TASK_ID).") var index: Int?

        func run() throws {
            StopRequest.install(onFirst: announceStop)
            let env = ProcessInfo.processInfo.environment
            guard let index = index ?? env["SLURM_ARRAY_TASK_ID"].flatMap({ Int($0) }) else {
                throw SlurmCommand.fail("task", "no task index: give --index or run inside a Slurm array job")
            }
            let result: (run: SlurmPlan.Run, outcome: RunJob.Outcome)
            do {
                result = try SlurmBackend.runTask(
                    directory: directory, index: index,
                    onStart: { print("task \(index): " + ($0 > 0 ? "resuming after epoch \($0)" : "starting")) },
                    onEvent: {
                        if case .epochEnd(let r, let s) = $0 {
                            print("epoch \(r.epoch): test total \(fixed(r.test.total, 2)) (\(fixed(s, 1)) s)")
                        }
                    })
            } catch {
                throw SlurmCommand.fail("task", "FAILED: \(error)")
            }
            let id = result.run.id
            switch result.outcome {
            case .trained(let trained, let figureError):
                print("\(id): done, test total \(fixed(trained.metrics.final.test.total, 2))")
                if let figureError { print("\(id): figures not drawn (the report job retries): \(figureError)") }
            case .finishedElsewhere: print("\(id): already finished; nothing to do")
            case .busy: print("\(id): being trained by a live process elsewhere; nothing to do")
            case .interrupted(let reason):
                print("\(id): \(reason)")
                let signal = StopRequest.signal ?? SIGTERM
                if let job = env["SLURM_JOB_ID"] {
                    let (status, _, err) = (try? SlurmBackend.run("scontrol", ["requeue", job])) ?? (1, "", "")
                    print(status == 0 ? "requeued job \(job)" : "scontrol requeue \(job) failed: \(err)")
                }
                throw ExitCode(128 + signal)
            }
        }
    }

    struct Finish: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The report job (run by report.sbatch): summary.* and the report, after every task.",
            discussion: """
                report.sbatch runs it after every task of the array has ended.

                Examples:
                  vaelab slurm finish results/slurm/<submission>   (redo the report by hand)
                """)

        @Argument(help: "The submission directory.") var directory: String

        func run() throws {
            do {
                let plan = try SlurmPlan.read(directory: directory)
                var options = RunnerOptions(jobs: 1)
                options.resultsRoot = plan.results
                try Runner(specs: [], options: options).writeSummary(fingerprints: plan.dataFingerprints)
                let outcome = try ReportGenerator.generate(results: plan.results, out: plan.report)
                print("wrote \(plan.results)/summary.md and \(outcome.reportPath)")
                let missing = SlurmBackend.unfinished(plan)
                if !missing.isEmpty {
                    print("\(missing.count) run(s) unfinished: vaelab slurm resubmit \(directory)")
                }
            } catch {
                throw SlurmCommand.fail("finish", "\(error)")
            }
        }
    }
}
