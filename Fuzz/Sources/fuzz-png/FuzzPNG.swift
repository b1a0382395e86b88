import Figures
import FuzzCommon

/// The PNG decoder (libpng behind the PNGCodec C layer).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(data, size, typed: { $0 is PNGError }) { bytes in
        let image = try PNG.decode(bytes, file: "fuzz.png")
        precondition((1...4).contains(image.channels) && image.width >= 1 && image.height >= 1, "odd image")
        precondition(image.pixels.count <= bytes.count * 1032 * 32 + 65536, "decoded more than the data can hold")
    }
}

/// The program's entry point (SwiftPM links `main` to `fuzz_png_main`).
@_cdecl("fuzz_png_main")
public func fuzz_png_main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzPNG)
}
