import ArgumentParser
import Experiments
import Foundation
import NeuralNet
import Support
import Training

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract:
            "Run every study in the given specs: plan, skip finished runs, train the rest in parallel, summarise.",
        discussion: """
            Each run lands in <results>/runs/<run-id>/ (config.json, metrics.json, timing.json, \
            model.safetensors, figures/). A finished run is skipped; an interrupted one resumes from its last \
            epoch checkpoint. Independent runs are spread over --jobs workers with one BLAS thread each.

            Exit status: 0 when every run finished, 1 when any failed, 2 when a spec is invalid (nothing is \
            written then), 3 when another vaelab process was still training some of the runs.

            Examples:
              vaelab run experiments/reference.json --dry-run
              vaelab run experiments/*.json --jobs 2
              vaelab run experiments/beta-sweep.json --shard 1/4
            """)

    @Argument(help: "Spec files (experiments/*.json; *.schema.json files are ignored).") var specs: [String]
    @Option(help: "Parallel runs (default: the number of cores).") var jobs: Int?
    @Flag(help: "Retrain runs that are already finished.") var force = false
    @Flag(help: "Stop starting new runs after the first failure.") var failFast = false
    @Flag(help: "Train nothing; only draw the missing figures of finished runs (from their saved weights).")
    var figuresOnly = false

    @Flag(help: "Print the plan and exit without writing anything.") var dryRun = false
    @Option(
        help: "Run only slice K of N of the plan (e.g. 2/4), for several machines sharing one study (default: all).")
    var shard: String?
    @Option(help: "Results directory.") var results = "results"
    @Option(help: "Directory holding the dataset files (default: $VAELAB_DATA_DIR, ./data/<dataset>).")
    var dataDir: String?

    /// --jobs, or the number of cores.
    var workers: Int { jobs ?? ProcessInfo.processInfo.activeProcessorCount }

    func validate() throws {
        guard (1...256).contains(workers) else { throw ValidationError("--jobs: expected 1...256, got \(workers)") }
        if let shard, parseShard(shard) == nil {
            throw ValidationError("--shard: expected K/N with 1 <= K <= N, got '\(shard)'")
        }
    }

    func parseShard(_ s: String) -> (Int, Int)? {
        let parts = s.split(separator: "/")
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, k >= 1, k <= n else { return nil }
        return (k, n)
    }

    func run() throws {
        var loaded: [StudySpec] = []
        do {
            // JSON Schemas beside the specs (experiments/spec.schema.json) are not studies.
            for path in specs where !path.hasSuffix(".schema.json") { loaded.append(try SpecParser.load(path: path)) }
            if loaded.isEmpty { throw ValidationError("no spec files given") }
            var names: [String: String] = [:]
            for spec in loaded {
                if let other = names[spec.name] {
                    throw SpecError(
                        file: spec.file, path: "name", message: "\"\(spec.name)\" is also the name of \(other)")
                }
                names[spec.name] = spec.file
            }
        } catch {
            throw CleanExit.failure("vaelab run: \(error)", code: 2)
        }
        var options = RunnerOptions(jobs: workers)
        options.force = force
        options.failFast = failFast
        options.shard = shard.flatMap(parseShard)
        options.resultsRoot = results
        options.dataDirectory = dataDir
        options.figuresOnly = figuresOnly
        let runner = Runner(specs: loaded, options: options)
        let plan: Plan
        do { plan = try runner.plan() } catch { throw CleanExit.failure("vaelab run: \(error)") }
        printPlan(plan)
        if dryRun { return }
        StopRequest.install(onFirst: announceStop)

        let board = ProgressBoard(live: isatty(2) == 1)
        let outcome: RunnerOutcome
        do {
            outcome = try runner.execute(plan, onEvent: board.handle)
        } catch {
            board.finish()
            throw CleanExit.failure("vaelab run: \(error)")
        }
        board.finish()
        try finish(plan, outcome)
    }

    /// The last line (trained, cached, failed, ...), the failures, and the exit status: 1 when a
    /// run failed, 128 + the signal after a stop, 3 when runs were busy in another process.
    private func finish(_ plan: Plan, _ outcome: RunnerOutcome) throws {
        // Runs that another process finished while this one waited count as cached.
        let cached = plan.entries.count - plan.toRun.count + outcome.finishedElsewhere.count
        var line = "\(outcome.finished.count) trained, \(cached) cached, \(outcome.failed.count) failed"
        if !outcome.busy.isEmpty { line += ", \(outcome.busy.count) running in another process" }
        if !outcome.interrupted.isEmpty { line += ", \(outcome.interrupted.count) interrupted" }
        if !outcome.notStarted.isEmpty {
            line += ", \(outcome.notStarted.count) not started" + (StopRequest.isRequested ? "" : " (--fail-fast)")
        }
        print(line + "; summary: \(results)/summary.md")
        for f in outcome.failed { print("FAILED \(f.id): \(f.message)") }
        for f in outcome.figureErrors { print("figures missing for \(f.id): \(f.message)") }
        if !outcome.failed.isEmpty { throw ExitCode.failure }
        if let signal = StopRequest.signal {
            print("stopped by \(StopRequest.name(signal)): checkpoints kept; the same command resumes")
            throw ExitCode(128 + signal)
        }
        if !outcome.busy.isEmpty {
            print(
                "not finished: \(outcome.busy.count) run(s) are being trained by another vaelab process;"
                    + " run again when it ends")
            throw ExitCode(3)
        }
    }

    private func printPlan(_ plan: Plan) {
        let run = plan.toRun
        var header =
            "plan: \(counted(plan.entries.count, "run")) from \(counted(plan.studies.count, "study", "studies"))"
        header += ": \(run.count) to run, \(plan.entries.count - run.count) cached"
        if let s = shard { header += " (shard \(s))" }
        print(header)
        for e in plan.entries {
            var line = "  \(e.action.rawValue.padded(7)) \(e.id)"
            if let note = e.note { line += "  (\(note))" }
            print(line)
        }
        if !run.isEmpty {
            let jobs = max(1, min(workers, run.count))
            print("estimate: about \(readableDuration(plan.estimatedSeconds)) with \(counted(jobs, "job"))")
        }
    }
}

/// Live progress for every active run: one line each, redrawn in place on a terminal; plain log
/// lines (one per epoch and per finished run) otherwise. Called from worker threads.
final class ProgressBoard: @unchecked Sendable {
    let live: Bool
    private let lock = NSLock()
    private var lines: [String: String] = [:]
    private var order: [String] = []
    private var drawn = 0

    init(live: Bool) { self.live = live }

    func handle(_ event: RunnerEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .started(let id, let resumed, let epochs):
            order.append(id)
            lines[id] = resumed > 0 ? "resuming after epoch \(resumed)/\(epochs)" : "starting"
            log("\(id): " + (resumed > 0 ? "resuming after epoch \(resumed)/\(epochs)" : "started"))
        case .progress(let id, let training, let epochs):
            switch training {
            case .batch(let epoch, let batch, let batches, let running, let elapsed):
                let fraction = Double(batch) / Double(batches)
                let eta = trainingETA(epoch: epoch, of: epochs, fraction: fraction, elapsed: elapsed)
                lines[id] = "epoch \(epoch)/\(epochs) \(Int(fraction * 100))% loss \(fixed(running, 2)) ETA \(eta)"
            case .epochEnd(let record, let seconds):
                var s = "epoch \(record.epoch)/\(epochs) train total \(fixed(record.train.total, 2))"
                s += " test total \(fixed(record.test.total, 2)) (\(fixed(seconds, 1)) s)"
                lines[id] = s
                log("\(id): \(s)")
            case .evaluating(let what):
                lines[id] = "evaluating: \(what)"
                log("\(id): evaluating: \(what)")
            case .evaluationProgress(let what, let fraction, let elapsed):
                let eta = evaluationETA(fraction: fraction, elapsed: elapsed)
                lines[id] = "evaluating: \(what) \(Int(fraction * 100))% ETA \(eta)"
            }
        case .finished(let id, let seconds, let metrics):
            lines[id] = nil
            order.removeAll { $0 == id }
            log(
                "\(id): done in \(readableDuration(seconds)), test total \(fixed(metrics.final.test.total, 2))",
                always: true)
        case .failed(let id, let message):
            lines[id] = nil
            order.removeAll { $0 == id }
            log("\(id): FAILED: \(message)", always: true)
        case .busy(let id):
            log("\(id): skipped, another process is training it", always: true)
        case .interrupted(let id, let message):
            lines[id] = nil
            order.removeAll { $0 == id }
            log("\(id): \(message)", always: true)
        case .figures(let id, let error):
            log("\(id): " + (error.map { "figures not drawn: \($0)" } ?? "figures drawn"), always: error != nil)
        }
        if live { redraw() }
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if live { clear() }
    }

    private func log(_ s: String, always: Bool = false) {
        if live {
            guard always else { return }
            clear()
        }
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    private func clear() {
        guard drawn > 0 else { return }
        FileHandle.standardError.write(Data(("\u{1B}[\(drawn)A\u{1B}[J").utf8))
        drawn = 0
    }

    private func redraw() {
        clear()
        let text = order.map { "  \($0)  \(lines[$0] ?? "")" }.joined(separator: "\n")
        if !order.isEmpty { FileHandle.standardError.write(Data((text + "\n").utf8)) }
        drawn = order.count
    }
}
