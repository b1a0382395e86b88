// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "vaelab",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vaelab", targets: ["vaelab"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        // Every module that reads outside input, for the libFuzzer package in Fuzz/.
        .library(
            name: "VAELabParsers",
            targets: ["Support", "NeuralNet", "Datasets", "Training", "Experiments", "Report", "Figures"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.0"),
    ],
    targets: [
        // MARK: - C system libraries (module map + uniquely guarded shim header each)
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CCairo", pkgConfig: "cairo",
            providers: [.apt(["libcairo2-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // MARK: - Libraries
        // What every layer above needs and nothing numeric: atomic files, strict JSON, fault
        // injection, clocks, hashing, running git.
        .target(name: "Support", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // Direct kernels for the convolutions too skinny for sgemm (C, compiled per CPU level).
        .target(name: "NNKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        .target(name: "NeuralNet", dependencies: ["Support", "CBLAS", "NNKernels"]),
        .target(
            name: "Datasets",
            dependencies: ["Support", "NeuralNet", "CZlib"]),
        .target(name: "Models", dependencies: ["NeuralNet"]),
        .target(name: "Training", dependencies: ["Support", "NeuralNet", "NNKernels", "Models", "Datasets"]),
        // libpng's errors arrive by longjmp, which Swift cannot catch: a small C layer holds them.
        .target(name: "PNGCodec", dependencies: ["CPNG"]),
        .target(name: "Figures", dependencies: ["Support", "NeuralNet", "PNGCodec", "CCairo", "CBLAS"]),
        .target(
            name: "Experiments", dependencies: ["Support", "NeuralNet", "Models", "Datasets", "Training", "Figures"]),
        .target(
            name: "Report",
            dependencies: ["Support", "NeuralNet", "Models", "Datasets", "Training", "Experiments", "Figures"]),
        // The results in the formats other tools read: long CSV / JSONL (pandas), TensorBoard
        // event files (TensorBoardProto.pb.swift is generated from tensorboard.proto), DVC.
        .target(
            name: "Export",
            dependencies: [
                "Support", "Training", "Experiments", "Report",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "CSV", package: "CSV.swift"),
            ], exclude: ["tensorboard.proto"]),

        // MARK: - Command-line tool
        .executableTarget(
            name: "vaelab",
            dependencies: [
                "NeuralNet", "Models", "Datasets", "Training", "Experiments", "Figures", "Report", "Export",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: - Tests
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "NNKernels"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Support"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "NeuralNet"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "Datasets", "NeuralNet", "Support"]),
        // A fabricated results tree for the report and export tests.
        .target(
            name: "ResultsFixture",
            dependencies: ["Experiments", "Training", "Datasets", "Figures", "Models", "Support"],
            path: "Tests/Fixtures"),
        .testTarget(name: "FiguresTests", dependencies: ["Figures", "NeuralNet"], exclude: ["Golden"]),
        .testTarget(
            name: "ReportTests",
            dependencies: [
                "Report", "Experiments", "Training", "Models", "Datasets", "Figures", "NeuralNet", "Support",
                "ResultsFixture",
            ], exclude: ["Golden"]),
        .testTarget(
            name: "ExportTests",
            dependencies: ["Export", "Report", "Experiments", "Training", "Support", "ResultsFixture"]),
        .testTarget(
            name: "ExperimentsTests",
            dependencies: ["Experiments", "Training", "Datasets", "Models", "NeuralNet", "Figures"]),
        // Runs the built release `vaelab` binary (`make test` builds it first).
        // The real binary end to end; slurm-cluster.sh starts the one-node Slurm of SlurmTests.swift.
        .testTarget(name: "CLITests", exclude: ["slurm-cluster.sh"]),
        // The engine against the PyTorch reference beside it (torch_model.py, golden.py; seeds.py
        // trains that reference for the width study's comparison).
        .testTarget(
            name: "GoldenTests", dependencies: ["Models", "NeuralNet", "Datasets"],
            exclude: ["torch_model.py", "golden.py", "seeds.py"]),
        // Seeded mutation fuzzing of every parser of outside input (VAELAB_FUZZ_ITERATIONS, VAELAB_FUZZ_SEED).
        .testTarget(
            name: "FuzzTests",
            dependencies: [
                "Support", "NeuralNet", "Datasets", "Models", "Training", "Experiments", "Report", "Figures",
            ]),
    ]
)
