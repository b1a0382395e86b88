import Foundation
import NeuralNet
import Support
import Training

#if canImport(Glibc)
    import Glibc
#endif

/// The results tree:
///
///     results/runs/<run-id>/      config.json, metrics.json, timing.json, model.safetensors,
///                                 checkpoint.safetensors (while unfinished), failure.json (if it failed), .lock
///     results/studies/<name>.json which runs each study (spec) consists of
///     results/summary.json, summary.md
public struct ResultsStore: Sendable {
    public let root: String
    public init(root: String) { self.root = root }

    public var runsDirectory: String { root + "/runs" }
    public var studiesDirectory: String { root + "/studies" }
    public var summaryJSONPath: String { root + "/summary.json" }
    public var summaryMarkdownPath: String { root + "/summary.md" }

    public func run(_ id: String) -> RunDirectory { RunDirectory(runsDirectory + "/" + id) }

    /// What is on disk for one run.
    public enum RunState: Equatable, Sendable {
        case missing
        /// Finished: metrics.json is complete and matches the config and the data.
        case done
        /// Started but unfinished; resumable when a checkpoint exists.
        case partial(checkpoint: Bool)
        /// Marked failed by an earlier attempt (retried on the next `vaelab run`).
        case failed(String)
        /// metrics.json exists but cannot be trusted (corrupt, edited, or for another config).
        case invalid(String)
    }

    public func state(of id: String, config: RunConfig, dataFingerprint: String) -> RunState {
        let dir = run(id)
        let fm = FileManager.default
        guard fm.fileExists(atPath: dir.path) else { return .missing }
        if fm.fileExists(atPath: dir.metricsPath) {
            switch dir.verifyMetrics(config: config, dataFingerprint: dataFingerprint) {
            case .success: return .done
            case .failure(let problem): return .invalid(problem.reason)
            }
        }
        if let data = fm.contents(atPath: dir.failurePath),
            let failure = try? JSONDecoder().decode(RunFailure.self, from: data)
        {
            return .failed(failure.error)
        }
        return .partial(checkpoint: fm.fileExists(atPath: dir.checkpointPath))
    }
}

/// Why a run failed, written to failure.json.
public struct RunFailure: Codable, Sendable {
    public var error: String
    public var epoch: Int?
    public var batch: Int?
    public var finishedAt: String
    enum CodingKeys: String, CodingKey {
        case error, epoch, batch
        case finishedAt = "finished_at"
    }
}

/// An exclusive lock on a run directory (flock on `.lock`), held while a process trains it.
/// The kernel releases it when the process dies, so a killed run never leaves a stale lock.
/// The holder writes who it is into the file (`Holder`) for `vaelab status`.
public final class RunLock {
    private let fd: Int32
    private init(fd: Int32) { self.fd = fd }

    /// Who holds a lock: written into `.lock` by the process that takes it.
    public struct Holder: Codable, Sendable, Equatable {
        public var host: String
        public var pid: Int32
        public var since: String
        /// `<job id>_<task>` or `<job id>` when the holder is a Slurm job.
        public var slurmJob: String?
        enum CodingKeys: String, CodingKey {
            case host, pid, since
            case slurmJob = "slurm_job"
        }

        public static var current: Holder {
            let env = ProcessInfo.processInfo.environment
            var job = env["SLURM_ARRAY_JOB_ID"].map { "\($0)_\(env["SLURM_ARRAY_TASK_ID"] ?? "?")" }
            job = job ?? env["SLURM_JOB_ID"]
            return Holder(
                host: ProcessInfo.processInfo.hostName, pid: getpid(), since: timestamp(), slurmJob: job)
        }
    }

    /// The lock of `directory` (its `.lock` file); nil when another process holds it, unless
    /// `wait`, which blocks until it is free. Without `wait` a few quick retries let a
    /// `vaelab status` probe (a moment's shared lock) pass.
    public static func acquire(directory: String, wait: Bool = false) throws -> RunLock? {
        let fd = open(directory + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError(path: directory + "/.lock", reason: String(cString: strerror(errno))) }
        var status = flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB)
        var retries = 4
        while status != 0 {
            if wait && errno == EINTR {
                status = flock(fd, LOCK_EX)
                continue
            }
            guard !wait, errno == EWOULDBLOCK, retries > 0 else { break }
            retries -= 1
            usleep(20_000)
            status = flock(fd, LOCK_EX | LOCK_NB)
        }
        if status != 0 {
            close(fd)
            return nil
        }
        if let bytes = try? CanonicalJSON.encode(Holder.current) {
            _ = ftruncate(fd, 0)
            _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
        return RunLock(fd: fd)
    }

    /// Who holds the lock of `directory` now, or nil when nobody does. A holder that wrote no
    /// record (an older vaelab) is reported with host "?" and pid 0.
    public static func holder(directory: String) -> Holder? {
        let fd = open(directory + "/.lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        let data = FileManager.default.contents(atPath: directory + "/.lock") ?? Data()
        return (try? JSONDecoder().decode(Holder.self, from: data))
            ?? Holder(host: "?", pid: 0, since: "", slurmJob: nil)
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
