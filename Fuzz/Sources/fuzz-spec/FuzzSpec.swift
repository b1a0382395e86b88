import Experiments
import FuzzCommon
import Training

/// The spec parser and validator (`SpecParser.parse`): a plan or a `SpecError`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpec(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(data, size, typed: { $0 is SpecError }) { bytes in
        let spec = try SpecParser.parse(bytes, file: "fuzz.json")
        precondition(
            !spec.runs.isEmpty && spec.runs.count <= StudySpec.maxRuns, "accepted a spec with \(spec.runs.count) runs")
        precondition(spec.runs.allSatisfy { $0.config.firstInvalidField() == nil }, "accepted an invalid run")
        precondition(Set(spec.runs.map(\.config.asRead)).count == spec.runs.count, "accepted duplicate runs")
    }
}

/// The program's entry point (SwiftPM links `main` to `fuzz_spec_main`).
@_cdecl("fuzz_spec_main")
public func fuzz_spec_main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzSpec)
}
