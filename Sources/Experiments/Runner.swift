import Datasets
import Dispatch
import Foundation
import NeuralNet
import Support
import Training

/// Options of `vaelab run`.
public struct RunnerOptions: Sendable {
    public var jobs: Int
    public var force = false
    public var failFast = false
    /// Train nothing: only draw the missing figures of finished runs.
    public var figuresOnly = false
    /// (k, n): run only the k-th (1-based) of n deterministic slices of the plan.
    public var shard: (index: Int, count: Int)?
    public var resultsRoot = "results"
    public var dataDirectory: String?
    public init(jobs: Int) { self.jobs = jobs }
}

/// One unique run of the plan (a config that several studies share is trained once).
public struct PlanEntry: Sendable {
    public enum Action: String, Sendable { case cached, train, resume, retrain }
    public var id: String
    public var config: RunConfig
    public var studies: [String]
    public var action: Action
    /// Why a run is retrained (an invalid or failed earlier result), for the plan printout.
    public var note: String?
    /// Rough cost in image passes, for the time estimate.
    public var cost: Double
}

public struct Plan: Sendable {
    public var entries: [PlanEntry]
    public var studies: [StudyRecord]
    public var dataFingerprints: [String: String]
    /// Estimated seconds with the given jobs, from past throughput (or a default).
    public var estimatedSeconds: Double
    public var toRun: [PlanEntry] { entries.filter { $0.action != .cached } }
}

/// What happens while the runner works; delivered from worker threads (the handler must be thread-safe).
public enum RunnerEvent: Sendable {
    case started(id: String, resumedEpochs: Int, epochs: Int)
    case progress(id: String, TrainingEvent, epochs: Int)
    case finished(id: String, seconds: Double, metrics: RunMetrics)
    case failed(id: String, message: String)
    case busy(id: String)
    /// A stop signal ended the run's training; its last epoch checkpoint is kept.
    case interrupted(id: String, message: String)
    /// Figures were drawn for a finished run (`error` nil) or could not be (the run stays finished).
    case figures(id: String, error: String?)
}

public struct RunnerOutcome: Sendable {
    public var finished: [String] = []
    /// Planned runs that another process finished before this one could take them.
    public var finishedElsewhere: [String] = []
    public var failed: [(id: String, message: String)] = []
    public var busy: [String] = []
    /// Runs a stop signal ended (checkpoints kept); `notStarted` then lists the rest of the queue.
    public var interrupted: [String] = []
    public var notStarted: [String] = []
    /// Finished runs whose figures could not be drawn, with why.
    public var figureErrors: [(id: String, message: String)] = []
}

public final class Runner: @unchecked Sendable {
    public let specs: [StudySpec]
    public let options: RunnerOptions
    public let store: ResultsStore
    private var datasets: [String: LoadedDataset] = [:]

    public init(specs: [StudySpec], options: RunnerOptions) {
        self.specs = specs
        self.options = options
        self.store = ResultsStore(root: options.resultsRoot)
    }

    /// Loads the data the specs need, gives every run its id and looks at what is on disk.
    public func plan() throws -> Plan {
        var fingerprints: [String: String] = [:]
        for name in Set(specs.flatMap { $0.runs.map(\.config.dataset) }).sorted() {
            guard let dataset = DatasetName(rawValue: name) else { continue }
            let loaded = try loadDataset(dataset, directory: options.dataDirectory)
            datasets[name] = loaded
            fingerprints[name] = datasetFingerprint(loaded.checksums)
        }
        var entries: [PlanEntry] = []
        var index: [String: Int] = [:]
        var studies: [StudyRecord] = []
        for spec in specs {
            var record = StudyRecord(
                name: spec.name, description: spec.description, specFile: spec.file,
                specSHA256: spec.sha256, runs: [])
            for run in spec.runs {
                let fingerprint = fingerprints[run.config.dataset] ?? ""
                let id = run.config.runID(dataFingerprint: fingerprint)
                record.runs.append(.init(id: id, origin: run.origin, config: run.config))
                if let i = index[id] {
                    if !entries[i].studies.contains(spec.name) { entries[i].studies.append(spec.name) }
                    continue
                }
                index[id] = entries.count
                entries.append(planEntry(id: id, config: run.config, study: spec.name, fingerprint: fingerprint))
            }
            studies.append(record)
        }
        if let (k, n) = options.shard {
            let ids = entries.map(\.id).sorted()
            let mine = Set(ids.enumerated().filter { $0.offset % n == k - 1 }.map(\.element))
            entries = entries.filter { mine.contains($0.id) }
        }
        let rate = pastThroughput() ?? 1000
        let work = entries.filter { $0.action != .cached }.reduce(0.0) { $0 + $1.cost }
        let jobs = Double(max(1, min(options.jobs, entries.filter { $0.action != .cached }.count)))
        return Plan(
            entries: entries, studies: studies, dataFingerprints: fingerprints,
            estimatedSeconds: work / rate / jobs)
    }

    private func planEntry(id: String, config: RunConfig, study: String, fingerprint: String) -> PlanEntry {
        let trainCount = Double(min(config.trainLimit ?? 60_000, 60_000))
        let testCount = Double(min(config.testLimit ?? 10_000, 10_000))
        // In training-image equivalents: an eval forward ~ 1/3 of a step, a decoder pass ~ 0.28; an
        // IWAE step with k samples ~ 1 + 1.05 (k - 1) steps (measured at k = 5, H = 64).
        let step = 1 + 1.05 * Double(config.trainSamples - 1)
        var cost = Double(config.epochs) * (trainCount * step + testCount / 3) + trainCount / 3 + testCount / 3
        if config.model.hasPosterior { cost += Double(config.iwaeSamples) * testCount * 0.28 }
        var action = PlanEntry.Action.train
        var note: String?
        switch store.state(of: id, config: config, dataFingerprint: fingerprint) {
        case .done: action = options.force ? .retrain : .cached
        case .partial(let checkpoint): action = checkpoint && !options.force ? .resume : .train
        case .failed(let message):
            action = .retrain
            note = "failed before: \(message)"
        case .invalid(let reason):
            action = .retrain
            note = reason
        case .missing: action = .train
        }
        return PlanEntry(id: id, config: config, studies: [study], action: action, note: note, cost: cost)
    }

    /// Median training throughput (images/s) of finished runs in the store, if any.
    private func pastThroughput() -> Double? {
        guard let ids = try? FileManager.default.contentsOfDirectory(atPath: store.runsDirectory) else { return nil }
        var rates: [Double] = []
        for id in ids {
            if let data = FileManager.default.contents(atPath: store.run(id).timingPath),
                let timing = try? JSONDecoder().decode(RunTiming.self, from: data), timing.trainImagesPerSecond > 0
            {
                rates.append(timing.trainImagesPerSecond)
            }
        }
        guard !rates.isEmpty else { return nil }
        return rates.sorted()[rates.count / 2]
    }

    /// Records the studies, trains every run that is not cached (in parallel), then writes the summary.
    public func execute(_ plan: Plan, onEvent: @escaping @Sendable (RunnerEvent) -> Void) throws -> RunnerOutcome {
        try recordStudies(plan)
        try writeSummary(fingerprints: plan.dataFingerprints)  // what is already finished, before training more
        let queue = options.figuresOnly ? [] : plan.toRun
        let jobs = max(1, min(options.jobs, queue.count))
        ExecutionPolicy(jobs: options.jobs).apply()

        let state = SharedState()
        DispatchQueue.concurrentPerform(iterations: jobs) { _ in
            while let entry = state.next(queue, stopOnFailure: options.failFast) {
                switch train(entry, onEvent: onEvent) {
                case .finished:
                    state.record { $0.finished.append(entry.id) }
                    // Keep the summary current while a long study runs (one writer at a time).
                    state.serially { try? writeSummary(fingerprints: plan.dataFingerprints) }
                case .finishedElsewhere: state.record { $0.finishedElsewhere.append(entry.id) }
                case .busy: state.record { $0.busy.append(entry.id) }
                case .interrupted: state.record { $0.interrupted.append(entry.id) }
                case .failed(let message):
                    state.record {
                        $0.failed.append((entry.id, message))
                        $0.sawFailure = true
                    }
                }
            }
        }
        var outcome = state.outcome
        outcome.figureErrors = drawMissingFigures(plan, trained: outcome.finished, onEvent: onEvent)
        outcome.notStarted = queue.map(\.id).filter { id in
            !outcome.finished.contains(id) && !outcome.finishedElsewhere.contains(id) && !outcome.busy.contains(id)
                && !outcome.interrupted.contains(id) && !outcome.failed.contains { $0.id == id }
        }
        try writeSummary(fingerprints: plan.dataFingerprints)
        return outcome
    }

    /// Writes `studies/<name>.json` for every study of the plan (under the tree's lock).
    public func recordStudies(_ plan: Plan) throws {
        try AtomicFile.makeDirectory(store.runsDirectory)
        try AtomicFile.makeDirectory(store.studiesDirectory)
        let lock = try RunLock.acquire(directory: store.root, wait: true)
        defer { withExtendedLifetime(lock) {} }
        AtomicFile.removeStaleTemporaries(in: store.studiesDirectory)
        for study in plan.studies {
            try AtomicFile.write(CanonicalJSON.encode(study), to: store.studiesDirectory + "/\(study.name).json")
        }
    }

    /// Rebuilds summary.json and summary.md from every recorded study.
    public func writeSummary(fingerprints: [String: String]) throws {
        // One writer at a time across processes sharing the tree, so the last summary written
        // is built from the latest state on disk.
        try AtomicFile.makeDirectory(store.root)
        let lock = try RunLock.acquire(directory: store.root, wait: true)
        defer { withExtendedLifetime(lock) {} }
        AtomicFile.removeStaleTemporaries(in: store.root)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: store.studiesDirectory)) ?? []
        let studies = files.filter { $0.hasSuffix(".json") }.sorted().compactMap { name -> StudyRecord? in
            guard let data = FileManager.default.contents(atPath: store.studiesDirectory + "/" + name) else {
                return nil
            }
            return try? JSONDecoder().decode(StudyRecord.self, from: data)
        }
        let summary = Summary.build(studies: studies, store: store, dataFingerprints: fingerprints)
        try AtomicFile.write(CanonicalJSON.encode(summary), to: store.summaryJSONPath)
        try AtomicFile.write(summary.markdown(), to: store.summaryMarkdownPath)
    }

    /// Draws the figures of finished runs that lack them (made before figures existed, or
    /// interrupted while drawing), from their saved weights. Runs without weights are left alone.
    private func drawMissingFigures(_ plan: Plan, trained: [String], onEvent: @escaping @Sendable (RunnerEvent) -> Void)
        -> [(id: String, message: String)]
    {
        var errors: [(id: String, message: String)] = []
        for entry in plan.entries where entry.action == .cached || trained.contains(entry.id) {
            let dir = store.run(entry.id)
            guard !RunFigures.complete(dir, config: entry.config),
                FileManager.default.fileExists(atPath: dir.weightsPath),
                let full = datasets[entry.config.dataset]
            else { continue }
            do {
                guard let lock = try RunLock.acquire(directory: dir.path) else { continue }
                defer { withExtendedLifetime(lock) {} }
                AtomicFile.removeStaleTemporaries(in: dir.figuresPath)
                let data = try full.limited(train: entry.config.trainLimit, test: entry.config.testLimit)
                try RunFigures.renderSaved(
                    dir, runID: entry.id, config: entry.config, test: entry.config.binarize.evaluationImages(data.test))
                onEvent(.figures(id: entry.id, error: nil))
            } catch {
                errors.append((entry.id, "\(error)"))
                onEvent(.figures(id: entry.id, error: "\(error)"))
            }
        }
        return errors
    }

    enum Result {
        case finished, finishedElsewhere, busy, interrupted
        case failed(String)
    }

    /// One run, start to end, in the calling worker thread (`RunJob` does the work).
    private func train(_ entry: PlanEntry, onEvent: @escaping @Sendable (RunnerEvent) -> Void) -> Result {
        var job = RunJob(id: entry.id, config: entry.config, directory: store.run(entry.id))
        job.skipIfFinished = !options.force
        job.resume = entry.action != .retrain
        job.policy = ExecutionPolicy(jobs: options.jobs)
        let epochs = entry.config.epochs
        do {
            guard let full = datasets[entry.config.dataset] else {
                throw SpecError(file: "", path: "dataset", message: "not loaded")
            }
            let data = try full.limited(train: entry.config.trainLimit, test: entry.config.testLimit)
            let t0 = monotonicSeconds()
            let outcome = try job.execute(
                data: data,
                onStart: { onEvent(.started(id: entry.id, resumedEpochs: $0, epochs: epochs)) },
                onEvent: { onEvent(.progress(id: entry.id, $0, epochs: epochs)) })
            switch outcome {
            case .busy:
                onEvent(.busy(id: entry.id))
                return .busy
            case .finishedElsewhere:
                return .finishedElsewhere
            case .interrupted(let reason):
                onEvent(.interrupted(id: entry.id, message: "\(reason)"))
                return .interrupted
            case .trained(let trained, let figureError):
                onEvent(.finished(id: entry.id, seconds: monotonicSeconds() - t0, metrics: trained.metrics))
                onEvent(.figures(id: entry.id, error: figureError))
                return .finished
            }
        } catch {
            onEvent(.failed(id: entry.id, message: "\(error)"))
            return .failed("\(error)")
        }
    }
}

/// The work queue and the outcome, shared by the worker threads.
private final class SharedState: @unchecked Sendable {
    struct Outcome {
        var finished: [String] = []
        var finishedElsewhere: [String] = []
        var failed: [(String, String)] = []
        var busy: [String] = []
        var interrupted: [String] = []
        var sawFailure = false
    }
    private let lock = NSLock()
    private var nextIndex = 0
    private var current = Outcome()

    func next(_ queue: [PlanEntry], stopOnFailure: Bool) -> PlanEntry? {
        lock.lock()
        defer { lock.unlock() }
        if (stopOnFailure && current.sawFailure) || StopRequest.isRequested { return nil }
        guard nextIndex < queue.count else { return nil }
        defer { nextIndex += 1 }
        return queue[nextIndex]
    }

    private let summaryLock = NSLock()

    func serially(_ body: () -> Void) {
        summaryLock.lock()
        defer { summaryLock.unlock() }
        body()
    }

    func record(_ update: (inout Outcome) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        update(&current)
    }

    var outcome: RunnerOutcome {
        lock.lock()
        defer { lock.unlock() }
        return RunnerOutcome(
            finished: current.finished, finishedElsewhere: current.finishedElsewhere,
            failed: current.failed.map { ($0.0, $0.1) }, busy: current.busy, interrupted: current.interrupted)
    }
}

extension LoadedDataset {
    /// The first `train` / `test` images of each split (the whole split for nil).
    public func limited(train: Int?, test: Int?) throws -> LoadedDataset {
        func slice(_ s: DatasetSplit, _ limit: Int?, _ which: String) throws -> DatasetSplit {
            guard let limit else { return s }
            guard limit >= 1 && limit <= s.count else {
                throw SpecError(
                    file: directory, path: "\(which)_limit", message: "expected 1...\(s.count), got \(limit)")
            }
            if limit == s.count { return s }
            return s.prefix(limit)
        }
        return LoadedDataset(
            name: name, train: try slice(self.train, train, "train"), test: try slice(self.test, test, "test"),
            checksums: checksums, directory: directory)
    }
}
