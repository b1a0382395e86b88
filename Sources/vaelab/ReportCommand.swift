import ArgumentParser
import Foundation
import Report
import Support

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write REPORT.md and its figures from a results tree (no training).",
        discussion: """
            Reads <results>/summary.json, <results>/studies/*.json and every run directory, and writes \
            <out>/REPORT.md with relative links to <out>/figures/*.png: the methods, the reference \
            study's comparison table beside the published values, a table and figures per study, \
            provenance and every run. The same results give the same bytes.

            Examples:
              vaelab report
              vaelab report --results /scratch/results --out /tmp/report
            """)

    @Option(help: "Results directory.")
    var results = "results"

    @Option(help: "Output directory.")
    var out = "report"

    func run() throws {
        do {
            let outcome = try ReportGenerator.generate(results: results, out: out)
            var line =
                "wrote \(outcome.reportPath) and \(counted(outcome.figures.count, "figure")): \(counted(outcome.runs.done, "run")) done"
            if outcome.runs.failed > 0 { line += ", \(outcome.runs.failed) failed" }
            if outcome.runs.missing > 0 { line += ", \(outcome.runs.missing) not run yet" }
            if outcome.runs.invalid > 0 { line += ", \(outcome.runs.invalid) invalid" }
            print(line)
        } catch {
            throw CleanExit.failure("vaelab report: \(error)", code: 2)
        }
    }
}
