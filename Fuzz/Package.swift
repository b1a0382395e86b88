// swift-tools-version: 6.0
// libFuzzer targets for vaelab's parsers of outside input (`make fuzz`, see Fuzz/run.sh).
//
// Build (coverage-guided, AddressSanitizer):
//   swift build -c release --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// Each executable defines LLVMFuzzerTestOneInput and `<module>_main` (SwiftPM aliases `main` to it
// on Linux), which hands over to libFuzzer's driver (LLVMFuzzerRunDriver, from -sanitize=fuzzer).
import PackageDescription

let targets = ["fuzz-json", "fuzz-spec", "fuzz-idx", "fuzz-gzip", "fuzz-safetensors", "fuzz-summary", "fuzz-png"]

let package = Package(
    name: "vaelab-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "vaelab", path: "..")],
    targets: [
        .target(name: "CFuzzDriver"),
        .target(name: "FuzzCommon", dependencies: ["CFuzzDriver", .product(name: "VAELabParsers", package: "vaelab")]),
    ]
        + targets.map { name in
            .executableTarget(
                name: name, dependencies: ["FuzzCommon", .product(name: "VAELabParsers", package: "vaelab")])
        }
)
