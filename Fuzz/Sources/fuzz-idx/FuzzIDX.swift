import Datasets
import FuzzCommon

/// The IDX parser and the accessors of what it accepts.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(data, size, typed: { $0 is DatasetError }) { bytes in
        let idx = try parseIDX(bytes, path: "fuzz.idx", expectedMagic: IDXMagic.all)
        let itemSize = idx.itemSize
        precondition(idx.count * itemSize == idx.payload.count, "payload does not match the dimensions")
        precondition(idx.bytes(limit: 3).count == min(3, idx.count) * itemSize)
        precondition(idx.scaledFloats(limit: 2).count == min(2, idx.count) * itemSize)
    }
}

/// The program's entry point (SwiftPM links `main` to `fuzz_idx_main`).
@_cdecl("fuzz_idx_main")
public func fuzz_idx_main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzIDX)
}
