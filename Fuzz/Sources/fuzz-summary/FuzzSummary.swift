import Experiments
import Foundation
import FuzzCommon
import Report

/// The summary readers of `vaelab diff` (`SummaryDiff.decode`, then the diff and its renderings)
/// and `vaelab report` (`ResultsTree.readSummary`, from a file).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSummary(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(data, size, typed: { $0 is DiffError || $0 is ReportError }) { bytes in
        writeScratchFile(bytes)
        let fromReport = try? ResultsTree.readSummary(fuzzScratchFile)
        let summary = try SummaryDiff.decode(Data(bytes), revision: "HEAD", path: "results/summary.json")
        precondition(fromReport == nil || fromReport == summary, "the two readers disagree")
        let empty = try SummaryDiff.decode(
            Data(#"{"format":"vaelab.summary/1","units":"","studies":[]}"#.utf8), revision: "A", path: "a")
        for diff in [SummaryDiff(a: empty, b: summary), SummaryDiff(a: summary, b: summary).changedOnly()] {
            _ = diff.text(labelA: "A", labelB: "B")
            _ = diff.markdown(labelA: "A", labelB: "B")
            _ = try? diff.json(labelA: "A", labelB: "B")
        }
        precondition(SummaryDiff(a: summary, b: summary).isEmpty, "a summary differs from itself")
    }
}

/// The program's entry point (SwiftPM links `main` to `fuzz_summary_main`).
@_cdecl("fuzz_summary_main")
public func fuzz_summary_main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzSummary)
}
