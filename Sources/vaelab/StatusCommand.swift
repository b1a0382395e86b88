import ArgumentParser
import Experiments
import Foundation
import Support

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Say where every run of the given specs (default: every recorded study) stands.",
        discussion: """
            One line per run: done; running (host, pid, Slurm job, epochs in its checkpoint, how \
            long since it was written); checkpointed but not running; started without a \
            checkpoint; failed (the reason from failure.json); invalid; not started. Totals at the \
            end. Reads the results tree only: nothing is written, nothing waits.

            Examples:
              vaelab status
              vaelab status experiments/objective.json --json
            """)

    @Argument(help: "Study specs (default: the studies recorded in <results>/studies).") var specs: [String] = []
    @Option(help: "Results directory.") var results = "results"
    @Option(help: "Directory holding the dataset files (default: $VAELAB_DATA_DIR, ./data/<dataset>).")
    var dataDir: String?
    @Flag(help: "Print one JSON object (format vaelab.status/1) instead of lines.") var json = false

    struct Report: Encodable {
        var format = "vaelab.status/1"
        var runs: [RunStatus]
        var totals: [String: Int]
    }

    func run() throws {
        let statuses: [RunStatus]
        do {
            var options = RunnerOptions(jobs: 1)
            options.resultsRoot = results
            options.dataDirectory = dataDir
            let plan = try Runner(specs: try studies(), options: options).plan()
            statuses = RunStatus.collect(plan, store: ResultsStore(root: results))
        } catch {
            // A bad spec: 2, as `run` says it.
            throw CleanExit.failure("vaelab status: \(error)", code: error is SpecError ? 2 : 1)
        }
        let totals = Dictionary(grouping: statuses, by: \.state.rawValue).mapValues(\.count)
        if json {
            print(String(decoding: try CanonicalJSON.encode(Report(runs: statuses, totals: totals)), as: UTF8.self))
            return
        }
        for s in statuses { print(s.line) }
        let parts = RunStatus.State.allCases.compactMap { state in
            totals[state.rawValue].map { "\($0) \(state.rawValue.replacingOccurrences(of: "_", with: " "))" }
        }
        print("\(counted(statuses.count, "run")): " + (parts.isEmpty ? "none" : parts.joined(separator: ", ")))
    }

    /// The specs given, or the studies recorded in the results tree.
    private func studies() throws -> [StudySpec] {
        if !specs.isEmpty { return try specs.filter { !$0.hasSuffix(".schema.json") }.map(SpecParser.load) }
        let dir = results + "/studies"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        let records = try names.filter { $0.hasSuffix(".json") }.sorted().map { name in
            try JSONDecoder().decode(StudyRecord.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
        }
        guard !records.isEmpty else { throw ValidationError("\(dir): no recorded studies; give spec files") }
        return records.map(StudySpec.init(record:))
    }
}
