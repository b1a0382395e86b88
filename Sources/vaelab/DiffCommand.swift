import ArgumentParser
import Foundation
import Report

enum DiffFormat: String, ExpressibleByArgument, CaseIterable {
    case text, md, json
}

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare results/summary.json between two git revisions (default: HEAD against the working tree).",
        discussion: """
            Reads <results>/summary.json at REV_A and REV_B with `git show REV:<path>` in the repository that \
            contains the results directory; nothing is checked out. A revision is anything git accepts as a \
            commit (HEAD~3, a tag, a hash); \(SummaryDiff.worktree) means the file on disk in the working tree.

            Groups are matched by study and configuration (the run config without the seed). One row per \
            (study, group, metric): A, B (mean ± std (n) over seeds), Δ = B − A and rel. = Δ/|A| in %. \
            A `*` marks |Δ| > 2·SE with SE = sqrt(stdA²/nA + stdB²/nB); when a side has a single seed \
            (no std) the column says n=1 instead, and "only A"/"only B" when a metric is on one side only. \
            Groups and studies present on one side only are listed after the table.

            Exit status: 0 when both summaries could be read (whether or not they differ), 2 when one \
            could not (not a git repository, unknown revision, no summary at that revision, invalid JSON \
            or another summary format).

            Examples:
              vaelab diff
              vaelab diff HEAD~3 HEAD --changed
              vaelab diff v1 v2 --format md
            """)

    @Argument(
        help: ArgumentHelp("Revision A: a commit, tag, branch, HEAD~N, or \(SummaryDiff.worktree).", valueName: "rev-a")
    )
    var revA = "HEAD"

    @Argument(
        help: ArgumentHelp("Revision B; \(SummaryDiff.worktree) is the summary file on disk.", valueName: "rev-b"))
    var revB = SummaryDiff.worktree

    @Option(help: ArgumentHelp("Results directory; the summary is <results>/summary.json.", valueName: "dir"))
    var results = "results"

    @Option(help: "Output format: text, md (Markdown) or json (sorted keys).")
    var format: DiffFormat = .text

    @Flag(help: "Show only rows whose A and B differ (groups and studies added or removed are always listed).")
    var changed = false

    func run() throws {
        var diff: SummaryDiff
        do {
            let a = try SummaryDiff.load(revision: revA, results: results)
            let b = try SummaryDiff.load(revision: revB, results: results)
            diff = SummaryDiff(a: a, b: b)
        } catch let error as DiffError {
            throw CleanExit.failure("vaelab diff: \(error)", code: 2)
        }
        if changed { diff = diff.changedOnly() }
        let labelA = label(revA)
        let labelB = label(revB)
        switch format {
        case .text: print(diff.text(labelA: labelA, labelB: labelB), terminator: "")
        case .md: print(diff.markdown(labelA: labelA, labelB: labelB), terminator: "")
        case .json: print(try diff.json(labelA: labelA, labelB: labelB), terminator: "")
        }
    }

    /// "HEAD~3 (0c4abca)", or "working tree".
    private func label(_ revision: String) -> String {
        if revision == SummaryDiff.worktree { return "working tree (\(results)/summary.json)" }
        guard let commit = SummaryDiff.shortCommit(revision: revision, results: results) else { return revision }
        return commit.hasPrefix(revision) ? commit : "\(revision) (\(commit))"
    }
}
