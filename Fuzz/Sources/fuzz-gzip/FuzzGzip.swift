import Datasets
import FuzzCommon

/// The dataset reader as `readIDX` runs it: gunzip when gzipped, then parse the IDX.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGzip(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(data, size, typed: { $0 is DatasetError }) { bytes in
        let raw = try gunzipIfNeeded(bytes, path: "fuzz.gz")
        precondition(raw.count <= bytes.count * 1032 + 1024, "inflated beyond deflate's maximum ratio")
        let idx = try parseIDX(raw, path: "fuzz.gz", expectedMagic: IDXMagic.all)
        _ = idx.scaledFloats(limit: 1)
    }
}

/// The program's entry point (SwiftPM links `main` to `fuzz_gzip_main`).
@_cdecl("fuzz_gzip_main")
public func fuzz_gzip_main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzGzip)
}
