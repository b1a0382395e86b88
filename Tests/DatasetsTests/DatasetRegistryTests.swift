import Datasets
import Foundation
import Support
import Testing

/// Registry behaviour on synthetic four-file datasets: loading, validation, limits, resolution.
@Suite struct DatasetRegistryTests {
    @Test(arguments: [true, false])
    func syntheticDatasetLoadsWithoutVerification(gzipped: Bool) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let raw = try writeSyntheticDataset(in: dir, gzipped: gzipped)
        let data = try loadDataset(.mnist, directory: dir.path, verifyChecksums: false)

        #expect(data.name == .mnist)
        #expect(data.directory == dir.path)
        #expect(data.train.count == 5)
        #expect(data.test.count == 3)
        #expect(data.train.rows == 28 && data.train.cols == 28 && data.train.pixelsPerImage == 784)
        #expect(data.train.images.count == 5 * 784)
        #expect(data.test.images.count == 3 * 784)
        #expect(data.train.labels == syntheticLabels(count: 5, seed: 1))
        #expect(data.test.labels == syntheticLabels(count: 3, seed: 2))
        #expect(data.train.images == syntheticPixels(count: 5, rows: 28, cols: 28, seed: 1).map { Float($0) / 255 })
        #expect(Set(data.checksums.keys) == Set(raw.keys))
        for (name, bytes) in raw {
            #expect(data.checksums[name] == sha256Hex(bytes))
        }
    }

    @Test func checksumMismatchNamesFileAndHashes() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let raw = try writeSyntheticDataset(in: dir)
        let error = datasetError { _ = try loadDataset(.mnist, directory: dir.path) }
        let expected = DatasetName.mnist.pinnedChecksums["train-images-idx3-ubyte"] ?? ""
        let actual = sha256Hex(raw["train-images-idx3-ubyte"] ?? [])
        #expect(
            error
                == .checksumMismatch(
                    path: dir.file("train-images-idx3-ubyte.gz"), expected: expected, actual: actual))
        let message = error?.description ?? ""
        #expect(message.contains("train-images-idx3-ubyte.gz"))
        #expect(message.contains(String(expected.prefix(16))))
        #expect(message.contains(String(actual.prefix(16))))
    }

    @Test func fashionChecksumsArePinnedToo() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try writeSyntheticDataset(in: dir, gzipped: false)
        let error = datasetError { _ = try loadDataset(.fashionMNIST, directory: dir.path) }
        guard case .checksumMismatch(let path, let expected, _)? = error else {
            Issue.record("expected checksumMismatch, got \(String(describing: error))")
            return
        }
        #expect(path == dir.file("train-images-idx3-ubyte"))
        #expect(expected == DatasetName.fashionMNIST.pinnedChecksums["train-images-idx3-ubyte"])
    }

    @Test func missingFileMessagesSayHowToGetTheData() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let fashion = datasetError { _ = try loadDataset(.fashionMNIST, directory: dir.path) }
        guard case .fileNotFound(let path, _)? = fashion else {
            Issue.record("expected fileNotFound, got \(String(describing: fashion))")
            return
        }
        #expect(path.hasPrefix(dir.path))
        #expect(path.contains("train-images-idx3-ubyte"))
        let message = fashion?.description ?? ""
        #expect(message.contains("apt-get install dataset-fashion-mnist"))
        #expect(message.contains("make setup"))

        let mnist = datasetError { _ = try loadDataset(.mnist, directory: dir.path) }
        #expect(mnist?.description.contains("VAELAB_DATA_DIR") == true)
        #expect(mnist?.description.contains(dir.path) == true)
    }

    @Test func oneMissingFileIsNamed() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try writeSyntheticDataset(in: dir)
        try FileManager.default.removeItem(atPath: dir.file("t10k-labels-idx1-ubyte.gz"))
        let error = datasetError { _ = try loadDataset(.mnist, directory: dir.path, verifyChecksums: false) }
        #expect(
            error
                == .fileNotFound(
                    path: dir.file("t10k-labels-idx1-ubyte[.gz]"), hint: DatasetName.mnist.missingFileHint))
    }

    @Test func imageAndLabelCountMismatch() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try writeSyntheticDataset(in: dir, trainCount: 5, trainLabelCount: 4)
        let error = datasetError { _ = try loadDataset(.mnist, directory: dir.path, verifyChecksums: false) }
        #expect(
            error
                == .countMismatch(
                    imagesPath: dir.file("train-images-idx3-ubyte.gz"), images: 5,
                    labelsPath: dir.file("train-labels-idx1-ubyte.gz"), labels: 4))
        #expect(error?.description.contains("5 images") == true)
        #expect(error?.description.contains("4 labels") == true)
    }

    @Test func imagesMustBe28x28() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try writeSyntheticDataset(in: dir, rows: 4, cols: 5)
        let error = datasetError { _ = try loadDataset(.mnist, directory: dir.path, verifyChecksums: false) }
        #expect(
            error
                == .imageSizeMismatch(
                    path: dir.file("train-images-idx3-ubyte.gz"), rows: 4, cols: 5, expectedRows: 28, expectedCols: 28))
        #expect(error?.description.contains("4x5") == true)
    }

    @Test func swappedFilesGiveWrongMagic() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try writeSyntheticDataset(in: dir)
        // Labels content under the images name.
        try dir.write(
            "train-images-idx3-ubyte.gz",
            try gzipCompress(makeIDX(magic: 0x801, dimensions: [2], payload: [1, 2])))
        let error = datasetError { _ = try loadDataset(.mnist, directory: dir.path, verifyChecksums: false) }
        #expect(error == .wrongMagic(path: dir.file("train-images-idx3-ubyte.gz"), found: 0x801, expected: [0x803]))
    }

    @Test func labelsOutOfRange() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try writeSyntheticDataset(in: dir, trainLabels: [1, 2, 10, 3, 4])
        let error = datasetError { _ = try loadDataset(.mnist, directory: dir.path, verifyChecksums: false) }
        #expect(
            error == .labelOutOfRange(path: dir.file("train-labels-idx1-ubyte.gz"), index: 2, value: 10, maximum: 9))
    }

    @Test func truncatedGzipInDataset() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let raw = try writeSyntheticDataset(in: dir)
        let gz = try gzipCompress(raw["t10k-images-idx3-ubyte"] ?? [])
        let path = try dir.write("t10k-images-idx3-ubyte.gz", Array(gz[..<(gz.count / 2)]))
        let error = datasetError { _ = try loadDataset(.mnist, directory: dir.path, verifyChecksums: false) }
        #expect(error == .truncatedGzip(path: path))
    }

    @Test func limitsTakeTheFirstImages() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try writeSyntheticDataset(in: dir, trainCount: 5, testCount: 3)
        let full = try loadDataset(.mnist, directory: dir.path, verifyChecksums: false)
        let limited = try loadDataset(.mnist, directory: dir.path, trainLimit: 2, testLimit: 3, verifyChecksums: false)
        #expect(limited.train.count == 2)
        #expect(limited.train.images == Array(full.train.images[..<(2 * 784)]))
        #expect(limited.train.labels == Array(full.train.labels[..<2]))
        #expect(limited.test.count == 3)
        #expect(limited.test.images == full.test.images)
        // Checksums always describe the full files.
        #expect(limited.checksums == full.checksums)
    }

    @Test(arguments: [0, -1, 6])
    func invalidTrainLimitIsAnError(limit: Int) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try writeSyntheticDataset(in: dir, trainCount: 5)
        let error = datasetError {
            _ = try loadDataset(.mnist, directory: dir.path, trainLimit: limit, verifyChecksums: false)
        }
        #expect(
            error
                == .invalidLimit(
                    path: dir.file("train-images-idx3-ubyte.gz"), split: "train", requested: limit, available: 5))
        #expect(error?.description.contains("between 1 and 5") == true)
    }

    @Test func invalidTestLimitIsAnError() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try writeSyntheticDataset(in: dir, testCount: 3)
        let error = datasetError {
            _ = try loadDataset(.mnist, directory: dir.path, testLimit: 4, verifyChecksums: false)
        }
        #expect(
            error
                == .invalidLimit(
                    path: dir.file("t10k-images-idx3-ubyte.gz"), split: "test", requested: 4, available: 3))
    }

    @Test func directoryResolutionOrder() throws {
        let env = try TempDir()
        let cwd = try TempDir()
        let parent = try TempDir()
        defer {
            env.remove()
            cwd.remove()
            parent.remove()
        }
        let explicit = "/explicit/dir"
        #expect(
            resolveDatasetDirectory(.mnist, directory: explicit, environment: ["VAELAB_DATA_DIR": env.path])
                == explicit)
        // The environment variable wins over built-in locations even when empty of files.
        #expect(resolveDatasetDirectory(.mnist, environment: ["VAELAB_DATA_DIR": env.path]) == env.path)
        // A parent directory holding <name>/ is followed into it.
        let nested = TempDir(existing: parent.path + "/fashion-mnist")
        try FileManager.default.createDirectory(atPath: nested.path, withIntermediateDirectories: true)
        try writeSyntheticDataset(in: nested)
        #expect(resolveDatasetDirectory(.fashionMNIST, environment: ["VAELAB_DATA_DIR": parent.path]) == nested.path)
        // ./data/<name> is used when it holds the files.
        let local = TempDir(existing: cwd.path + "/data/mnist")
        try FileManager.default.createDirectory(atPath: local.path, withIntermediateDirectories: true)
        try writeSyntheticDataset(in: local, gzipped: false)
        #expect(resolveDatasetDirectory(.mnist, environment: [:], currentDirectory: cwd.path) == local.path)
        // Without overrides fashion-mnist falls back to the Debian package location.
        #expect(
            resolveDatasetDirectory(.fashionMNIST, environment: [:], currentDirectory: env.path)
                == "/usr/share/datasets/fashion-mnist")
    }

    @Test func mnistFallsBackToRepoDataFromFilePath() {
        let resolved = resolveDatasetDirectory(.mnist, environment: [:], currentDirectory: "/nonexistent")
        #expect(resolved == repoRoot() + "/data/mnist")
    }

    @Test func fingerprintIsOrderIndependentAndContentSensitive() {
        let a = ["b": "22", "a": "11"]
        let expected = sha256Hex(Array("a=11\nb=22\n".utf8))
        #expect(datasetFingerprint(a) == expected)
        #expect(datasetFingerprint(["a": "11", "b": "22"]) == expected)
        #expect(datasetFingerprint(["a": "11", "b": "23"]) != expected)
        #expect(expected.count == 64)
        #expect(sha256Hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func everyErrorMessageIsOneLineNamingTheFile() {
        let errors: [DatasetError] = [
            .fileNotFound(path: "/p/f", hint: DatasetName.fashionMNIST.missingFileHint),
            .readFailed(path: "/p/f", reason: "is a directory"),
            .truncatedGzip(path: "/p/f"),
            .corruptGzip(path: "/p/f", reason: "invalid distance too far back"),
            .checksumMismatch(
                path: "/p/f", expected: String(repeating: "a", count: 64),
                actual: String(repeating: "b", count: 64)),
            .wrongMagic(path: "/p/f", found: 0x802, expected: [0x803]),
            .headerTooShort(path: "/p/f", size: 3, needed: 4),
            .invalidDimensions(path: "/p/f", dimensions: [Int(UInt32.max), Int(UInt32.max), Int(UInt32.max)]),
            .payloadSizeMismatch(path: "/p/f", expected: 10, actual: 9),
            .countMismatch(imagesPath: "/p/f", images: 2, labelsPath: "/p/g", labels: 3),
            .imageSizeMismatch(path: "/p/f", rows: 1, cols: 2, expectedRows: 28, expectedCols: 28),
            .labelOutOfRange(path: "/p/f", index: 0, value: 11, maximum: 9),
            .invalidLimit(path: "/p/f", split: "train", requested: 0, available: 5),
        ]
        for error in errors {
            #expect(!error.description.contains("\n"))
            #expect(error.description.hasPrefix("/p/f: "))
        }
    }

    @Test func overflowingDimensionsAreRejected() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let big = Int(UInt32.max)
        let path = try dir.write("huge", makeIDX(magic: 0x803, dimensions: [big, big, big], payload: [1]))
        #expect(throws: DatasetError.invalidDimensions(path: path, dimensions: [big, big, big])) {
            try readIDX(path: path)
        }
    }
}

extension TempDir {
    /// Wraps an existing path (removed by its owner).
    init(existing path: String) { self.path = path }
}
