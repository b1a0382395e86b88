import ArgumentParser
import Export
import Foundation
import Support

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the results for pandas, TensorBoard and DVC (no training).",
        discussion: """
            Reads the results tree alone (the same results give the same bytes) and writes, in <out>:
              curves.csv, curves.jsonl  a row per (study, run, epoch, split, metric)
              final.csv, final.jsonl    a row per (study, run, final metric)
              tensorboard/<run id>/     an event file per run: train/… and test/… per
                                        epoch, final/… at the last, the config as text
              dvc.yaml, dvc/            metrics (dvc/metrics.json: study, group, metric
                                        → mean, std, n), plots (dvc/curves/*.csv)
            Rows carry run_id, study, group and every run field. A run that two studies share \
            appears under each. Only finished runs are exported.

            Each file or directory of the formats asked for is replaced whole, after every new \
            file has been written; those of other formats are left alone. <out> is marked with \
            .vaelab-export, and an existing directory without the marker is refused.

            Examples:
              vaelab export
              vaelab export --format csv,dvc --out /tmp/export
              tensorboard --logdir export/tensorboard
              dvc metrics diff HEAD~1     (in a git repository with dvc init)
            In pandas:
              df = pd.read_csv("export/final.csv")
              df.groupby(["study", "group", "metric"]).value.agg(["mean", "std"])
            """)

    @Option(help: ArgumentHelp("Results directory.", valueName: "dir")) var results = "results"
    @Option(help: ArgumentHelp("Export directory.", valueName: "dir")) var out = "export"
    @Option(help: ArgumentHelp("Comma-separated formats: csv, jsonl, tensorboard, dvc.", valueName: "formats"))
    var format = ExportFormat.allCases.map(\.rawValue).joined(separator: ",")

    var formats: [ExportFormat] {
        get throws {
            try format.split(separator: ",", omittingEmptySubsequences: false).map { name in
                guard let f = ExportFormat(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError(
                        "--format: unknown format \"\(name)\"; expected a comma-separated list of csv, jsonl, tensorboard, dvc"
                    )
                }
                return f
            }
        }
    }

    func validate() throws { _ = try formats }

    func run() throws {
        do {
            let outcome = try Export.Exporter.export(results: results, out: out, formats: try formats)
            print(
                "wrote \(counted(outcome.files, "file")) to \(out) (\(try formats.map(\.rawValue).joined(separator: ", "))): \(counted(outcome.runs, "finished run"))"
            )
        } catch {
            throw CleanExit.failure("vaelab export: \(error)", code: 2)
        }
    }
}
