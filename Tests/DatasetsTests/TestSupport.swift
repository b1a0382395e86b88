import Datasets
import Foundation

/// A unique temporary directory removed when the value is released via `remove()`.
struct TempDir {
    /// Absolute path of the directory.
    let path: String

    /// Creates a fresh, uniquely named directory under the system temporary directory.
    init() throws {
        path =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("vaelab-datasets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Path of `name` inside the directory.
    func file(_ name: String) -> String { path + "/" + name }

    /// Writes `bytes` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let target = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }

    /// Deletes the directory and everything in it.
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Encodes an IDX file: big-endian magic, big-endian UInt32 dimensions, then `payload`.
func makeIDX(magic: UInt32, dimensions: [Int], payload: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    func appendBigEndian(_ value: UInt32) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
    appendBigEndian(magic)
    for dimension in dimensions { appendBigEndian(UInt32(dimension)) }
    return bytes + payload
}

/// Deterministic synthetic pixels for `count` images of `rows` x `cols`.
func syntheticPixels(count: Int, rows: Int, cols: Int, seed: Int = 0) -> [UInt8] {
    (0..<(count * rows * cols)).map { UInt8(truncatingIfNeeded: ($0 * 7 + seed * 13) % 256) }
}

/// Deterministic synthetic labels in 0...9.
func syntheticLabels(count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(($0 + seed) % 10) }
}

/// Writes a complete synthetic four-file dataset into `dir` and returns the raw (uncompressed) files by name.
@discardableResult
func writeSyntheticDataset(
    in dir: TempDir, trainCount: Int = 5, testCount: Int = 3, rows: Int = 28, cols: Int = 28,
    gzipped: Bool = true, trainLabelCount: Int? = nil, trainLabels: [UInt8]? = nil
) throws -> [String: [UInt8]] {
    let labelsForTrain = trainLabels ?? syntheticLabels(count: trainLabelCount ?? trainCount, seed: 1)
    let files: [String: [UInt8]] = [
        "train-images-idx3-ubyte": makeIDX(
            magic: 0x803, dimensions: [trainCount, rows, cols],
            payload: syntheticPixels(count: trainCount, rows: rows, cols: cols, seed: 1)),
        "train-labels-idx1-ubyte": makeIDX(magic: 0x801, dimensions: [labelsForTrain.count], payload: labelsForTrain),
        "t10k-images-idx3-ubyte": makeIDX(
            magic: 0x803, dimensions: [testCount, rows, cols],
            payload: syntheticPixels(count: testCount, rows: rows, cols: cols, seed: 2)),
        "t10k-labels-idx1-ubyte": makeIDX(
            magic: 0x801, dimensions: [testCount], payload: syntheticLabels(count: testCount, seed: 2)),
    ]
    for (name, bytes) in files {
        if gzipped {
            try dir.write(name + ".gz", try gzipCompress(bytes))
        } else {
            try dir.write(name, bytes)
        }
    }
    return files
}

/// Captures the `DatasetError` thrown by `body`, or nil if it did not throw one.
func datasetError(_ body: () throws -> Void) -> DatasetError? {
    do {
        try body()
        return nil
    } catch let error as DatasetError {
        return error
    } catch {
        return nil
    }
}

/// The repository root, located from this test file (…/Tests/DatasetsTests/X.swift -> …).
func repoRoot(file: String = #filePath) -> String {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
}

/// Checks a loaded split against the expectations shared by MNIST and Fashion-MNIST.
func splitSummary(_ split: DatasetSplit) -> (minPixel: Float, maxPixel: Float, maxLabel: UInt8) {
    var low = Float.infinity
    var high = -Float.infinity
    split.images.withUnsafeBufferPointer { pixels in
        for value in pixels {
            low = min(low, value)
            high = max(high, value)
        }
    }
    let maxLabel = split.labels.withUnsafeBufferPointer { $0.max() ?? 0 }
    return (low, high, maxLabel)
}
