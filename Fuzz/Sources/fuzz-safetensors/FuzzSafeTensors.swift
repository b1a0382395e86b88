import FuzzCommon
import NeuralNet

/// The safetensors reader; what it accepts must round-trip through the writer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(data, size, typed: { $0 is SafeTensorsError }) { bytes in
        let (tensors, metadata) = try SafeTensors.decode(bytes, file: "fuzz.safetensors")
        precondition(tensors.allSatisfy { $0.values.count == $0.shape.reduce(1, *) }, "values do not match a shape")
        let again = try SafeTensors.decode(SafeTensors.encode(tensors, metadata: metadata))
        precondition(
            again.metadata == metadata && again.tensors.map(\.name) == tensors.map(\.name), "round trip differs")
    }
}

/// The program's entry point (SwiftPM links `main` to `fuzz_safetensors_main`).
@_cdecl("fuzz_safetensors_main")
public func fuzz_safetensors_main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzSafeTensors)
}
