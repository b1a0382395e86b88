import Datasets
import Foundation
import Testing

/// Where the Debian package `dataset-fashion-mnist` installs its files.
let fashionDirectory = "/usr/share/datasets/fashion-mnist"

/// Loads of the real datasets with checksums verified (one load each: debug builds are slow).
@Suite struct RealDataTests {
    @Test func realMNISTLoadsWithVerifiedChecksums() throws {
        let directory = repoRoot() + "/data/mnist"
        let data = try loadDataset(.mnist, directory: directory)
        #expect(data.directory == directory)
        #expect(data.train.count == 60000)
        #expect(data.test.count == 10000)
        for split in [data.train, data.test] {
            #expect(split.rows == 28 && split.cols == 28)
            #expect(split.images.count == split.count * 784)
            #expect(split.labels.count == split.count)
            let summary = splitSummary(split)
            #expect(summary.minPixel == 0)
            #expect(summary.maxPixel == 1)
            #expect(summary.maxLabel <= 9)
        }
        #expect(data.train.labels.first == 5)
        #expect(data.test.labels.first == 7)
        #expect(data.checksums == DatasetName.mnist.pinnedChecksums)
        #expect(try sha256SumsFile(directory) == data.checksums)
        #expect(datasetFingerprint(data.checksums).count == 64)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: fashionDirectory)))
    func realFashionMNISTLoadsWithVerifiedChecksums() throws {
        let data = try loadDataset(.fashionMNIST, directory: fashionDirectory)
        #expect(data.train.count == 60000)
        #expect(data.test.count == 10000)
        for split in [data.train, data.test] {
            #expect(split.rows == 28 && split.cols == 28)
            #expect(split.images.count == split.count * 784)
            let summary = splitSummary(split)
            #expect(summary.minPixel == 0)
            #expect(summary.maxPixel == 1)
            #expect(summary.maxLabel == 9)
        }
        #expect(data.train.labels.first == 9)
        #expect(data.checksums == DatasetName.fashionMNIST.pinnedChecksums)
        #expect(datasetFingerprint(data.checksums) != datasetFingerprint(DatasetName.mnist.pinnedChecksums))
    }
}

/// Parses a sha256sum-format file ("hash  name" lines) into name -> hash.
func sha256SumsFile(_ directory: String) throws -> [String: String] {
    let text = try String(contentsOfFile: directory + "/SHA256SUMS", encoding: .utf8)
    var sums: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count == 2 { sums[String(parts[1]).replacingOccurrences(of: "*", with: "")] = String(parts[0]) }
    }
    return sums
}
