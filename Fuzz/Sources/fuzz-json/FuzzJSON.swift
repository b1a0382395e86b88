import FuzzCommon
import NeuralNet
import Support

/// The strict JSON parser shared by specs, safetensors headers and results files.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(data, size, typed: { $0 is JSONParseError }) { bytes in
        var parser = JSONParser(bytes: bytes)
        do {
            _ = try parser.parseDocument()
        } catch let error as JSONParseError {
            precondition(error.offset >= 0 && error.offset <= bytes.count, "error offset outside the input")
            throw error
        }
    }
}

/// The program's entry point (SwiftPM links `main` to `fuzz_json_main`).
@_cdecl("fuzz_json_main")
public func fuzz_json_main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzJSON)
}
