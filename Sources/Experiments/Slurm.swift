import Datasets
import Foundation
import Support
import Training

/// A study submitted to Slurm: the frozen plan (the runs that were not finished, in array-task
/// order) and the two job scripts, under `<results>/slurm/<id>/`:
///
///     plan.json        this file: task i trains runs[i]; editing a spec later changes nothing queued
///     array.sbatch     the array job, one task per run, each `exec vaelab slurm task <dir>`
///     report.sbatch    after the array (afterany): summary.* and the report
///     submission.json  the job ids, once submitted
///     logs/            task-<i>.log (every attempt appended), report.log
public struct SlurmPlan: Codable, Sendable {
    public static let currentFormat = "vaelab.slurm-plan/1"
    public var format = SlurmPlan.currentFormat
    public var submission: String
    /// The results tree (absolute), shared by the nodes.
    public var results: String
    /// Where the report goes (absolute).
    public var report: String
    /// Where each dataset's files were found at submission (absolute): the tasks read the same.
    public var dataDirectories: [String: String]
    public var createdAt: String
    public var runs: [Run]
    public var dataFingerprints: [String: String]
    /// The settings of the submission, reused by `vaelab slurm resubmit`.
    public var options: SlurmOptions

    public init(
        submission: String, results: String, report: String, dataDirectories: [String: String], createdAt: String,
        runs: [Run], dataFingerprints: [String: String], options: SlurmOptions
    ) {
        (self.submission, self.results, self.report, self.dataDirectories) = (
            submission, results, report, dataDirectories
        )
        (self.createdAt, self.runs, self.dataFingerprints, self.options) = (createdAt, runs, dataFingerprints, options)
    }

    public struct Run: Codable, Sendable {
        public var id: String
        public var config: RunConfig
        public var studies: [String]
        public init(id: String, config: RunConfig, studies: [String]) {
            (self.id, self.config, self.studies) = (id, config, studies)
        }
    }

    enum CodingKeys: String, CodingKey {
        case format, submission, results, report, runs, options
        case dataDirectories = "data_directories"
        case createdAt = "created_at"
        case dataFingerprints = "data_fingerprints"
    }

    public static func read(directory: String) throws -> SlurmPlan {
        let path = directory + "/plan.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SlurmError("\(path): cannot read the submission's plan")
        }
        do { return try JSONDecoder().decode(SlurmPlan.self, from: data) } catch {
            throw SlurmError("\(path): not a vaelab submission plan (\(error))")
        }
    }
}

/// The job ids of a submission, written after `sbatch` accepted both jobs.
public struct SlurmSubmissionRecord: Codable, Sendable {
    public var arrayJob: String
    public var reportJob: String
    public var submittedAt: String
    enum CodingKeys: String, CodingKey {
        case arrayJob = "array_job"
        case reportJob = "report_job"
        case submittedAt = "submitted_at"
    }
}

public struct SlurmError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The `#SBATCH` settings a user gives `vaelab slurm submit`, checked before anything is written.
public struct SlurmOptions: Codable, Sendable, Equatable {
    public var partition: String?
    public var time: String?
    public var maxParallel: Int?
    public var cpusPerTask = 1
    public var mem: String?
    public var account: String?
    public var qos: String?
    public var extra: [String] = []
    /// Seconds before the time limit at which Slurm sends SIGUSR1 (the task stops and requeues).
    public var warningSeconds = 120
    public init() {}

    /// The first bad value as "--flag: expected ..., got ...".
    public func problem() -> String? {
        func word(_ flag: String, _ value: String?) -> String? {
            guard let value else { return nil }
            let ok = !value.isEmpty && value.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 32 && $0 != "'" }
            return ok ? nil : "--\(flag): expected a name without spaces or quotes, got \"\(value)\""
        }
        if let p = word("partition", partition) ?? word("account", account) ?? word("qos", qos) { return p }
        if let time, time.wholeMatch(of: #/((\d+-)?\d{1,2}:)?\d{1,2}:\d{2}|\d+(-\d{1,2})?/#) == nil {
            return "--time: expected minutes, HH:MM:SS or D-HH:MM:SS, got \"\(time)\""
        }
        if let mem, mem.wholeMatch(of: #/\d+[KMGT]?/#) == nil {
            return "--mem: expected a size such as 4000M or 4G, got \"\(mem)\""
        }
        if let p = maxParallel, p < 1 { return "--max-parallel: expected an integer >= 1, got \(p)" }
        if cpusPerTask < 1 { return "--cpus-per-task: expected an integer >= 1, got \(cpusPerTask)" }
        for arg in extra where !arg.hasPrefix("--") || arg.contains(where: \.isNewline) {
            return "--sbatch-arg: expected one sbatch option such as --constraint=avx512, got \"\(arg)\""
        }
        return nil
    }

    /// The `#SBATCH` lines every job of the submission shares.
    var commonLines: [String] {
        var lines = ["--requeue", "--open-mode=append"]
        if let partition { lines.append("--partition=\(partition)") }
        if let account { lines.append("--account=\(account)") }
        if let qos { lines.append("--qos=\(qos)") }
        return lines
    }
}

/// Writes a submission's plan and scripts (nothing is submitted here).
public enum SlurmScripts {
    /// A path for a script line: single-quoted for the shell.
    static func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// The array job: task i trains `plan.runs[i]` with `vaelab slurm task`.
    public static func array(_ plan: SlurmPlan, directory: String, binary: String, options: SlurmOptions) -> String {
        var lines = [
            "--job-name=vaelab-\(plan.submission)",
            "--array=0-\(plan.runs.count - 1)" + (options.maxParallel.map { "%\($0)" } ?? ""),
            "--output=\(directory)/logs/task-%a.log",
            "--signal=B:USR1@\(options.warningSeconds)",
            "--ntasks=1",
            "--cpus-per-task=\(options.cpusPerTask)",
        ]
        lines += options.commonLines
        if let time = options.time { lines.append("--time=\(time)") }
        if let mem = options.mem { lines.append("--mem=\(mem)") }
        lines += options.extra
        return script(
            comment: "\(plan.runs.count) run(s); task i trains runs[i] of plan.json", lines: lines,
            command: "exec \(quoted(binary)) slurm task \(quoted(directory))")
    }

    /// The report job: after every task ended (`afterany`), summary.* and the report.
    public static func report(_ plan: SlurmPlan, directory: String, binary: String, options: SlurmOptions) -> String {
        var lines = [
            "--job-name=vaelab-\(plan.submission)-report", "--output=\(directory)/logs/report.log", "--ntasks=1",
        ]
        lines += options.commonLines
        return script(
            comment: "summary and report, after the array job (--dependency=afterany)",
            lines: lines, command: "exec \(quoted(binary)) slurm finish \(quoted(directory))")
    }

    static func script(comment: String, lines: [String], command: String) -> String {
        var s = "#!/bin/bash\n# Written by `vaelab slurm submit`: \(comment).\n"
        s += lines.map { "#SBATCH \($0)\n" }.joined()
        return s + "set -u\n" + command + "\n"
    }
}

/// Submission, array tasks and re-submission; the CLI's `vaelab slurm` calls these.
public enum SlurmBackend {
    /// `<results>/slurm`.
    public static func submissionsDirectory(results: String) -> String { results + "/slurm" }

    /// Freezes `runs` as a new submission: plan.json and both scripts under a new directory.
    public static func prepare(
        runs: [SlurmPlan.Run], fingerprints: [String: String], results: String, report: String,
        dataDirectories: [String: String], options: SlurmOptions, binary: String
    ) throws -> (directory: String, plan: SlurmPlan) {
        let stamp = timestamp().filter { $0.isNumber }
        let id = "\(stamp.prefix(8))-\(stamp.dropFirst(8).prefix(6))-\(getpid())"
        let directory = submissionsDirectory(results: results) + "/" + id
        let plan = SlurmPlan(
            submission: id, results: results, report: report, dataDirectories: dataDirectories, createdAt: timestamp(),
            runs: runs, dataFingerprints: fingerprints, options: options)
        try AtomicFile.makeDirectory(directory + "/logs")
        try AtomicFile.write(CanonicalJSON.encode(plan), to: directory + "/plan.json")
        try AtomicFile.write(
            SlurmScripts.array(plan, directory: directory, binary: binary, options: options),
            to: directory + "/array.sbatch")
        try AtomicFile.write(
            SlurmScripts.report(plan, directory: directory, binary: binary, options: options),
            to: directory + "/report.sbatch")
        return (directory, plan)
    }

    /// Submits the array, then the report job after it; records both ids.
    public static func submit(directory: String) throws -> SlurmSubmissionRecord {
        let array = try sbatch(["--parsable", directory + "/array.sbatch"])
        let report = try sbatch(["--parsable", "--dependency=afterany:\(array)", directory + "/report.sbatch"])
        let record = SlurmSubmissionRecord(arrayJob: array, reportJob: report, submittedAt: timestamp())
        try AtomicFile.write(CanonicalJSON.encode(record), to: directory + "/submission.json")
        return record
    }

    /// `sbatch` on PATH, or why not.
    public static func findTool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// Runs `sbatch` and returns the job id it prints (`--parsable`: "id" or "id;cluster").
    static func sbatch(_ arguments: [String]) throws -> String {
        let (status, out, err) = try run("sbatch", arguments)
        let id = out.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        guard status == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw SlurmError("sbatch \(arguments.joined(separator: " ")) failed: \(err.isEmpty ? out : err)")
        }
        return id
    }

    /// Runs a Slurm tool from PATH: (status, stdout, stderr), one line each trimmed.
    public static func run(_ tool: String, _ arguments: [String]) throws -> (Int32, String, String) {
        guard let executable = findTool(tool) else { throw SlurmError("\(tool): not found on PATH") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let (out, err) = (Pipe(), Pipe())
        (process.standardOutput, process.standardError) = (out, err)
        try process.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let trim = { (s: String) in s.trimmingCharacters(in: .whitespacesAndNewlines) }
        return (process.terminationStatus, trim(o), trim(e).replacingOccurrences(of: "\n", with: "; "))
    }

    /// The runs of a submission that are neither finished nor being trained, for re-submission.
    public static func unfinished(_ plan: SlurmPlan) -> [SlurmPlan.Run] {
        let store = ResultsStore(root: plan.results)
        return plan.runs.filter { run in
            let fingerprint = plan.dataFingerprints[run.config.dataset] ?? ""
            if case .done = store.state(of: run.id, config: run.config, dataFingerprint: fingerprint) { return false }
            return RunLock.holder(directory: store.run(run.id).path) == nil
        }
    }

    /// The latest submission directory under `results`, if any.
    public static func latest(results: String) -> String? {
        let dir = submissionsDirectory(results: results)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: dir + "/\($0)/plan.json") }.sorted().last
            .map { dir + "/" + $0 }
    }
}

extension SlurmBackend {
    /// Array task `index` of the submission in `directory`: trains its run with `RunJob` (lock,
    /// resume, train, finish, figures). Never writes the summary: the report job does.
    public static func runTask(
        directory: String, index: Int, onStart: (Int) -> Void = { _ in }, onEvent: (TrainingEvent) -> Void = { _ in }
    ) throws -> (run: SlurmPlan.Run, outcome: RunJob.Outcome) {
        let plan = try SlurmPlan.read(directory: directory)
        guard plan.runs.indices.contains(index) else {
            throw SlurmError("\(directory)/plan.json: task \(index) is out of range (\(plan.runs.count) runs)")
        }
        let run = plan.runs[index]
        guard let name = DatasetName(rawValue: run.config.dataset) else {
            throw SlurmError("\(run.id): unknown dataset \(run.config.dataset)")
        }
        let full = try loadDataset(name, directory: plan.dataDirectories[name.rawValue])
        guard datasetFingerprint(full.checksums) == plan.dataFingerprints[run.config.dataset] else {
            throw SlurmError("\(run.id): the \(name.rawValue) files differ from those at submission; resubmit")
        }
        let data = try full.limited(train: run.config.trainLimit, test: run.config.testLimit)
        ExecutionPolicy().apply()
        let job = RunJob(id: run.id, config: run.config, directory: ResultsStore(root: plan.results).run(run.id))
        return (run, try job.execute(data: data, onStart: onStart, onEvent: onEvent))
    }
}

extension SlurmBackend {
    /// Run id -> "<array job>_<task>" of its latest submission in `results` (submitted ones only).
    public static func taskIDs(results: String) -> [String: String] {
        let dir = submissionsDirectory(results: results)
        var out: [String: String] = [:]
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
            guard let data = FileManager.default.contents(atPath: "\(dir)/\(name)/submission.json"),
                let record = try? JSONDecoder().decode(SlurmSubmissionRecord.self, from: data),
                let plan = try? SlurmPlan.read(directory: "\(dir)/\(name)")
            else { continue }
            for (i, run) in plan.runs.enumerated() { out[run.id] = "\(record.arrayJob)_\(i)" }
        }
        return out
    }
}
