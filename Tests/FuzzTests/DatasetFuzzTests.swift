import Datasets
import Foundation
import Support
import Testing

/// The gzip and IDX readers on mutated dataset files.
@Suite("Fuzz: gzip and IDX")
struct DatasetFuzzTests {
    static func classify(_ error: any Error) -> String? {
        error is DatasetError ? errorCategory(error) : nil
    }

    @Test func idxParser() throws {
        let tally = runFuzz(target: "idx", corpus: Corpus.idxFiles, json: false, classify: Self.classify) { input in
            let idx = try parseIDX(input, path: "fuzz.idx", expectedMagic: IDXMagic.all)
            Self.checkAccepted(idx, input: input)
        }
        #expect(tally.accepted >= Corpus.idxFiles.count)
    }

    /// What an accepted IDX file promises: payload = product of the dimensions, and every accessor
    /// works (no overflow in the item size, no out-of-range slice).
    static func checkAccepted(_ idx: IDXArray, input: [UInt8]) {
        #expect(IDXMagic.all.contains(idx.magic))
        #expect(idx.dimensions.count == Int(idx.magic & 0xFF))
        let product = idx.dimensions.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
        #expect(idx.payload.count == product, "\(describeInput(input))")
        #expect(idx.payload.endIndex == input.count)
        let itemSize = idx.itemSize
        #expect(idx.count * itemSize == idx.payload.count)
        #expect(idx.bytes().count == idx.payload.count)
        #expect(idx.bytes(limit: 1).count == min(1, idx.count) * itemSize)
        let floats = idx.scaledFloats(limit: 2)
        #expect(floats.count == min(2, idx.count) * itemSize && floats.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test func gzipReader() throws {
        // The real file decompresses to the pinned content.
        if let gz = Corpus.mnistLabelsGzip {
            let raw = try gunzipIfNeeded(gz, path: "t10k-labels")
            #expect(sha256Hex(raw) == DatasetName.mnist.pinnedChecksums["t10k-labels-idx1-ubyte"])
        } else {
            Issue.record("data/mnist/t10k-labels-idx1-ubyte.gz is missing")
        }
        // Round trip through the writer.
        for file in Corpus.idxFiles {
            #expect(try gunzipIfNeeded(gzipCompress(file), path: "rt") == file)
        }
        // The small members keep the pass fast; the MNIST file is spliced in now and then.
        let corpus = Corpus.gzipFiles
        let tally = runFuzz(target: "gzip", corpus: corpus, json: false, classify: Self.classify) { input in
            let out = try gunzipIfNeeded(input, path: "fuzz.gz")
            // No decompression bomb beyond deflate's 1032:1.
            #expect(
                out.count <= input.count * 1032 + 1024,
                "\(input.count) bytes gave \(out.count): \(describeInput(input))")
            if !isGzip(input) { #expect(out == input) }
        }
        #expect(tally.accepted >= corpus.count)
    }

    /// The whole reader as `readIDX` runs it: decompress when gzipped, then parse.
    @Test func gzippedIDXThroughFiles() throws {
        let scratch = try FuzzScratch("idx")
        defer { scratch.remove() }
        let corpus = Corpus.gzipFiles.filter {
            (try? gunzipIfNeeded($0, path: "")).map {
                (try? parseIDX($0, path: "", expectedMagic: IDXMagic.all)) != nil
            } ?? false
        }
        #expect(!corpus.isEmpty)
        runFuzz(
            target: "idx-file", corpus: corpus, json: false, iterations: FuzzSettings.iterations / 5,
            classify: Self.classify
        ) { input in
            try scratch.write("f.idx", input)
            let idx = try readIDX(path: scratch.file("f.idx"))
            Self.checkAccepted(idx, input: try gunzipIfNeeded(input, path: ""))
        }
    }
}
