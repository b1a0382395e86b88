import Foundation
import Support
import Training

/// What `vaelab status` says of one planned run, from the results tree alone.
public struct RunStatus: Codable, Sendable {
    public enum State: String, Codable, Sendable, CaseIterable {
        case done, running, checkpointed, failed, invalid
        /// A run directory without a checkpoint and with nobody training it (stopped in epoch 1).
        case started
        case notStarted = "not_started"
    }
    public var id: String
    public var studies: [String]
    public var state: State
    public var epochs: Int
    /// Epochs in the run's checkpoint (running or checkpointed runs).
    public var epochsDone: Int?
    /// Who trains it (running).
    public var holder: RunLock.Holder?
    /// Seconds since the checkpoint was written (running or checkpointed).
    public var secondsSinceCheckpoint: Double?
    /// Why it failed, or why its metrics cannot be trusted.
    public var reason: String?
    /// The Slurm array task that last had the run (`<job>_<task>`), from the submission records.
    public var slurmTask: String?

    enum CodingKeys: String, CodingKey {
        case id, studies, state, epochs, holder, reason
        case slurmTask = "slurm_task"
        case epochsDone = "epochs_done"
        case secondsSinceCheckpoint = "seconds_since_checkpoint"
    }

    /// The status of every entry of `plan` in `store`, in plan order.
    public static func collect(_ plan: Plan, store: ResultsStore, now: Date = Date()) -> [RunStatus] {
        let tasks = SlurmBackend.taskIDs(results: store.root)
        return plan.entries.map { entry in
            let dir = store.run(entry.id)
            var status = RunStatus(
                id: entry.id, studies: entry.studies, state: .notStarted, epochs: entry.config.epochs)
            status.slurmTask = tasks[entry.id]
            let fingerprint = plan.dataFingerprints[entry.config.dataset] ?? ""
            let checkpoint = try? FileManager.default.attributesOfItem(atPath: dir.checkpointPath)
            if checkpoint != nil {
                status.epochsDone = Trainer.checkpointEpochs(at: dir.checkpointPath)
                let written = checkpoint?[.modificationDate] as? Date
                status.secondsSinceCheckpoint = written.map { now.timeIntervalSince($0) }
            }
            switch store.state(of: entry.id, config: entry.config, dataFingerprint: fingerprint) {
            case .done: status.state = .done
            case .missing: status.state = .notStarted
            case .invalid(let reason): (status.state, status.reason) = (.invalid, reason)
            case .failed(let reason): (status.state, status.reason) = (.failed, reason)
            case .partial(let hasCheckpoint): status.state = hasCheckpoint ? .checkpointed : .started
            }
            if status.state != .done, let holder = RunLock.holder(directory: dir.path) {
                (status.state, status.holder) = (.running, holder)
            }
            return status
        }
    }

    /// One line: "running  <id>  on host (pid 12, Slurm 345_2), epoch 3/25 done, checkpoint 2 min ago".
    public var line: String {
        var detail: [String] = []
        if let h = holder, h.pid == 0 {
            detail.append("locked by a process that left no record")
        } else if let h = holder {
            detail.append("on \(h.host) (pid \(h.pid)" + (h.slurmJob.map { ", Slurm job \($0)" } ?? "") + ")")
        }
        if let done = epochsDone { detail.append("epoch \(done)/\(epochs) done") }
        if let s = secondsSinceCheckpoint { detail.append("checkpoint \(readableDuration(max(0, s))) ago") }
        if state == .running && epochsDone == nil { detail.append("in epoch 1/\(epochs)") }
        if let task = slurmTask, holder?.slurmJob == nil { detail.append("Slurm task \(task)") }
        if let reason { detail.append(reason) }
        let name = state.rawValue.replacingOccurrences(of: "_", with: " ")
        return name.padding(toLength: 13, withPad: " ", startingAt: 0) + id
            + (detail.isEmpty ? "" : "  " + detail.joined(separator: ", "))
    }
}

extension StudySpec {
    /// The spec a recorded study was run from (its runs as recorded), for commands that work on
    /// every study in a results tree.
    public init(record: StudyRecord) {
        self.init(
            name: record.name, description: record.description, file: record.specFile, sha256: record.specSHA256,
            runs: record.runs.map { PlannedRun(config: $0.config, origin: $0.origin) })
    }
}
