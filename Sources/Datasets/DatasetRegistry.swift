import Foundation
import Support

/// The datasets vaelab knows how to load.
public enum DatasetName: String, CaseIterable, Sendable {
    case mnist
    case fashionMNIST = "fashion-mnist"
}

/// One split (train or test) of an image dataset.
///
/// Pixels stay bytes in memory (a quarter of the floats' size: 47 MB for MNIST's training set
/// instead of 188 MB) and become floats in [0, 1] (x / 255) a batch at a time.
public struct DatasetSplit: Sendable {
    /// Pixel bytes, count x rows x cols, row-major.
    public let pixels: [UInt8]
    /// One class label per image.
    public let labels: [UInt8]
    /// Number of images.
    public let count: Int
    /// Image height in pixels.
    public let rows: Int
    /// Image width in pixels.
    public let cols: Int
    /// Number of pixels in one image.
    public var pixelsPerImage: Int { rows * cols }

    /// Creates a split; `pixels.count` should be `count * rows * cols` and `labels.count` should be `count`.
    public init(pixels: [UInt8], labels: [UInt8], count: Int, rows: Int, cols: Int) {
        self.pixels = pixels
        self.labels = labels
        self.count = count
        self.rows = rows
        self.cols = cols
    }

    /// A split from float images in [0, 1], stored as the nearest multiples of 1/255 (exact for
    /// images that came from bytes).
    public init(images: [Float], labels: [UInt8], count: Int, rows: Int, cols: Int) {
        self.init(
            pixels: images.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }, labels: labels, count: count,
            rows: rows, cols: cols)
    }

    /// All images as floats in [0, 1]: a new array (tests and small splits; training and
    /// evaluation convert a batch at a time with `copyImages`).
    public var images: [Float] { pixels.map { unitFloat[Int($0)] } }

    /// Writes images `range` as floats in [0, 1] to `destination` (range.count * pixelsPerImage values).
    public func copyImages(_ range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "images \(range) of \(count)")
        let n = pixelsPerImage
        pixels.withUnsafeBufferPointer { bytes in
            unitFloat.withUnsafeBufferPointer { table in
                let source = bytes.baseAddress! + range.lowerBound * n
                for i in 0..<(range.count * n) { destination[i] = table[Int(source[i])] }
            }
        }
    }

    /// Writes image `index` as floats in [0, 1] to `destination`.
    public func copyImage(_ index: Int, into destination: UnsafeMutablePointer<Float>) {
        copyImages(index..<(index + 1), into: destination)
    }

    /// Image `index` as floats in [0, 1].
    public func image(_ index: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: pixelsPerImage) { buffer, initialized in
            copyImage(index, into: buffer.baseAddress!)
            initialized = pixelsPerImage
        }
    }

    /// The first `n` images.
    public func prefix(_ n: Int) -> DatasetSplit {
        precondition(n >= 0 && n <= count)
        if n == count { return self }
        return DatasetSplit(
            pixels: Array(pixels[0..<(n * pixelsPerImage)]), labels: Array(labels[0..<n]), count: n,
            rows: rows, cols: cols)
    }
}

/// Byte value -> value / 255 as Float, for all 256 byte values.
private let unitFloat: [Float] = (0...255).map { Float($0) / 255 }

/// A dataset loaded from disk, with the checksums identifying its content.
public struct LoadedDataset: Sendable {
    /// Which dataset this is.
    public let name: DatasetName
    /// The training split (possibly limited to its first N images).
    public let train: DatasetSplit
    /// The test split (possibly limited to its first N images).
    public let test: DatasetSplit
    /// File name (without .gz) -> SHA-256 hex of its decompressed content, for all four files.
    public let checksums: [String: String]
    /// The directory the files were read from.
    public let directory: String

    public init(
        name: DatasetName, train: DatasetSplit, test: DatasetSplit, checksums: [String: String], directory: String
    ) {
        self.name = name
        self.train = train
        self.test = test
        self.checksums = checksums
        self.directory = directory
    }
}

/// The four IDX files of a dataset, by their uncompressed names.
public struct DatasetFiles: Sendable {
    public let trainImages: String
    public let trainLabels: String
    public let testImages: String
    public let testLabels: String

    /// All four names, train first.
    public var all: [String] { [trainImages, trainLabels, testImages, testLabels] }

    /// The standard MNIST-style file names shared by MNIST and Fashion-MNIST.
    public static let standard = DatasetFiles(
        trainImages: "train-images-idx3-ubyte", trainLabels: "train-labels-idx1-ubyte",
        testImages: "t10k-images-idx3-ubyte", testLabels: "t10k-labels-idx1-ubyte")
}

/// Environment variable overriding where dataset files are looked for.
public let dataDirectoryEnvironmentVariable = "VAELAB_DATA_DIR"

extension DatasetName {
    /// The dataset's file names (uncompressed; a `.gz` variant is preferred when present).
    public var files: DatasetFiles { .standard }

    /// Required image height and width.
    public var imageSize: (rows: Int, cols: Int) { (28, 28) }

    /// Number of classes; labels must lie in 0..<classCount.
    public var classCount: Int { classNames.count }

    /// What a label names, for figures: "digit" or "class".
    public var classKind: String { self == .mnist ? "digit" : "class" }

    /// Each label's name, for figures' legends (Fashion-MNIST's from its README).
    public var classNames: [String] {
        switch self {
        case .mnist: return (0..<10).map(String.init)
        case .fashionMNIST:
            return [
                "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                "Ankle boot",
            ]
        }
    }

    /// Pinned SHA-256 of each file's decompressed content (sha256sum of the raw IDX file).
    public var pinnedChecksums: [String: String] {
        switch self {
        case .mnist:
            return [
                "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ]
        case .fashionMNIST:
            return [
                "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ]
        }
    }

    /// How to obtain the files, appended to "file not found" messages.
    public var missingFileHint: String {
        switch self {
        case .mnist:
            return "MNIST is committed under data/mnist in the vaelab repo: run from the repo root, "
                + "pass --data-dir, or set \(dataDirectoryEnvironmentVariable) to the directory holding the four files"
        case .fashionMNIST:
            return "install it with `apt-get install dataset-fashion-mnist` (or `make setup`), "
                + "or pass --data-dir / set \(dataDirectoryEnvironmentVariable) to a directory holding the four files"
        }
    }

    /// Built-in directories searched after the explicit and environment overrides, in order.
    func defaultDirectories(currentDirectory: String) -> [String] {
        let local = joinPath(currentDirectory, "data", rawValue)
        let repo = joinPath(repoDataDirectory(), rawValue)
        switch self {
        case .mnist: return [local, repo]
        case .fashionMNIST: return [local, repo, "/usr/share/datasets/fashion-mnist"]
        }
    }
}

/// The repo's data/ directory, located from this source file (…/Sources/Datasets/X.swift -> …/data).
func repoDataDirectory() -> String {
    let source = URL(fileURLWithPath: #filePath)
    return source.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("data").path
}

/// Joins path components with "/".
private func joinPath(_ components: String...) -> String {
    components.dropFirst().reduce(components.first ?? "") { base, next in
        base.hasSuffix("/") ? base + next : base + "/" + next
    }
}

/// Returns the path of `name` in `directory`, preferring `name.gz`, or nil when neither exists.
private func existingFile(_ name: String, in directory: String) -> String? {
    for candidate in [joinPath(directory, name + ".gz"), joinPath(directory, name)] {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue {
            return candidate
        }
    }
    return nil
}

/// True when `directory` holds all four files of `name` (gzipped or plain).
private func holdsDataset(_ name: DatasetName, _ directory: String) -> Bool {
    name.files.all.allSatisfy { existingFile($0, in: directory) != nil }
}

/// Resolves where a dataset's files are read from.
///
/// Order: explicit `directory` > `$VAELAB_DATA_DIR` (the directory holding the files, or a parent
/// holding a subdirectory named after the dataset) > `./data/<name>` > the repo's `data/<name>`
/// (found from this source file's `#filePath`) > for fashion-mnist `/usr/share/datasets/fashion-mnist`.
/// Built-in locations are used only if they hold all four files; otherwise the last one is returned
/// so that the missing-file error names the canonical place.
public func resolveDatasetDirectory(
    _ name: DatasetName, directory: String? = nil,
    environment: [String: String] = ProcessInfo.processInfo.environment,
    currentDirectory: String = FileManager.default.currentDirectoryPath
) -> String {
    if let directory, !directory.isEmpty { return directory }
    if let override = environment[dataDirectoryEnvironmentVariable], !override.isEmpty {
        let nested = joinPath(override, name.rawValue)
        return !holdsDataset(name, override) && holdsDataset(name, nested) ? nested : override
    }
    let candidates = name.defaultDirectories(currentDirectory: currentDirectory)
    return candidates.first { holdsDataset(name, $0) } ?? candidates[candidates.count - 1]
}

/// Loads a dataset's train and test splits, verifying each file's decompressed SHA-256.
///
/// - Parameters:
///   - directory: explicit directory (e.g. `--data-dir`); see `resolveDatasetDirectory` for the fallbacks.
///   - trainLimit, testLimit: keep only the first N images of a split; N must be in 1...split size.
///   - verifyChecksums: set to false only for synthetic test data.
public func loadDataset(
    _ name: DatasetName, directory: String? = nil, trainLimit: Int? = nil, testLimit: Int? = nil,
    verifyChecksums: Bool = true
) throws -> LoadedDataset {
    let root = resolveDatasetDirectory(name, directory: directory)
    var checksums: [String: String] = [:]
    let files = name.files
    let train = try loadSplit(
        name, directory: root, imagesFile: files.trainImages, labelsFile: files.trainLabels,
        split: "train", limit: trainLimit, verify: verifyChecksums, checksums: &checksums)
    let test = try loadSplit(
        name, directory: root, imagesFile: files.testImages, labelsFile: files.testLabels,
        split: "test", limit: testLimit, verify: verifyChecksums, checksums: &checksums)
    return LoadedDataset(name: name, train: train, test: test, checksums: checksums, directory: root)
}

/// Identifies a dataset's content: SHA-256 hex over the sorted "name=hash\n" lines.
public func datasetFingerprint(_ checksums: [String: String]) -> String {
    let text = checksums.keys.sorted().map { "\($0)=\(checksums[$0] ?? "")\n" }.joined()
    return sha256Hex(Array(text.utf8))
}

/// Reads one IDX file of a dataset: locate (.gz preferred), decompress, hash, verify, parse.
private func loadFile(
    _ name: DatasetName, directory: String, file: String, magic: UInt32, verify: Bool,
    checksums: inout [String: String]
) throws -> (path: String, idx: IDXArray) {
    guard let path = existingFile(file, in: directory) else {
        throw DatasetError.fileNotFound(path: joinPath(directory, file + "[.gz]"), hint: name.missingFileHint)
    }
    let bytes = try readMaybeGzipped(path: path, missingHint: name.missingFileHint)
    let digest = sha256Hex(bytes)
    if verify, let expected = name.pinnedChecksums[file], expected != digest {
        throw DatasetError.checksumMismatch(path: path, expected: expected, actual: digest)
    }
    checksums[file] = digest
    return (path, try parseIDX(bytes, path: path, expectedMagic: [magic]))
}

/// Loads and validates one split (images + labels), keeping its first `limit` images.
private func loadSplit(
    _ name: DatasetName, directory: String, imagesFile: String, labelsFile: String, split: String,
    limit: Int?, verify: Bool, checksums: inout [String: String]
) throws -> DatasetSplit {
    let images = try loadFile(
        name, directory: directory, file: imagesFile, magic: IDXMagic.images, verify: verify,
        checksums: &checksums)
    let labels = try loadFile(
        name, directory: directory, file: labelsFile, magic: IDXMagic.labels, verify: verify,
        checksums: &checksums)

    let rows = images.idx.dimensions[1]
    let cols = images.idx.dimensions[2]
    let size = name.imageSize
    guard rows == size.rows, cols == size.cols else {
        throw DatasetError.imageSizeMismatch(
            path: images.path, rows: rows, cols: cols, expectedRows: size.rows, expectedCols: size.cols)
    }
    guard images.idx.count == labels.idx.count else {
        throw DatasetError.countMismatch(
            imagesPath: images.path, images: images.idx.count, labelsPath: labels.path, labels: labels.idx.count)
    }
    let maximum = UInt8(name.classCount - 1)
    if let bad = labels.idx.payload.firstIndex(where: { $0 > maximum }) {
        throw DatasetError.labelOutOfRange(
            path: labels.path, index: bad - labels.idx.payload.startIndex, value: labels.idx.payload[bad],
            maximum: maximum)
    }
    let available = images.idx.count
    if let limit, limit < 1 || limit > available {
        throw DatasetError.invalidLimit(path: images.path, split: split, requested: limit, available: available)
    }
    let count = limit ?? available
    return DatasetSplit(
        pixels: images.idx.bytes(limit: count), labels: labels.idx.bytes(limit: count),
        count: count, rows: rows, cols: cols)
}
