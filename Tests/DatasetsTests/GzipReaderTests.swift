import Datasets
import Foundation
import Testing

/// Gzip decoding: round trips, plain pass-through, and every kind of damaged stream.
@Suite struct GzipReaderTests {
    /// A compressible payload (so the deflate stream uses Huffman-coded blocks).
    let payload: [UInt8] = makeIDX(
        magic: 0x803, dimensions: [20, 28, 28], payload: syntheticPixels(count: 20, rows: 28, cols: 28))

    @Test func gzipRoundTripAndPlainPassThrough() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let gz = try gzipCompress(payload)
        #expect(isGzip(gz))
        #expect(gz.count < payload.count)
        let gzPath = try dir.write("a.gz", gz)
        let plainPath = try dir.write("a", payload)
        #expect(try readMaybeGzipped(path: gzPath) == payload)
        #expect(try readMaybeGzipped(path: plainPath) == payload)
    }

    @Test func emptyPayloadRoundTrips() throws {
        let gz = try gzipCompress([])
        #expect(try gunzipIfNeeded(gz, path: "empty.gz") == [])
    }

    @Test func concatenatedMembersAreJoined() throws {
        let first = Array(payload[..<1000])
        let second = Array(payload[1000...])
        let joined = try gzipCompress(first) + gzipCompress(second)
        #expect(try gunzipIfNeeded(joined, path: "joined.gz") == payload)
    }

    @Test(arguments: [0.5, 0.1, 0.9])
    func truncatedGzipIsAnError(fraction: Double) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let gz = try gzipCompress(payload)
        let path = try dir.write("cut.gz", Array(gz[..<Int(Double(gz.count) * fraction)]))
        #expect(throws: DatasetError.truncatedGzip(path: path)) { try readIDX(path: path) }
    }

    @Test func missingTrailerIsTruncated() throws {
        let gz = try gzipCompress(payload)
        let cut = Array(gz.dropLast(4))  // drop ISIZE
        #expect(throws: DatasetError.truncatedGzip(path: "x.gz")) { try gunzipIfNeeded(cut, path: "x.gz") }
    }

    @Test func headerOnlyGzipIsTruncated() throws {
        let gz = try gzipCompress(payload)
        #expect(throws: DatasetError.truncatedGzip(path: "h.gz")) {
            try gunzipIfNeeded(Array(gz[..<10]), path: "h.gz")
        }
    }

    @Test func flippedDeflateBytesAreCorrupt() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        var gz = try gzipCompress(payload)
        let middle = gz.count / 2
        for i in middle..<(middle + 8) { gz[i] ^= 0xFF }
        let path = try dir.write("flipped.gz", gz)
        let error = datasetError { _ = try readIDX(path: path) }
        guard case .corruptGzip(let errorPath, _)? = error else {
            Issue.record("expected corruptGzip, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(error?.description.contains("corrupt gzip") == true)
    }

    @Test(arguments: [11, 20, 40, 60])
    func singleFlippedByteNeverPassesSilently(offset: Int) throws {
        var gz = try gzipCompress(payload)
        gz[offset] ^= 0x55
        let error = datasetError { _ = try gunzipIfNeeded(gz, path: "f.gz") }
        switch error {
        case .corruptGzip?, .truncatedGzip?: break
        default: Issue.record("flipped byte at \(offset) gave \(String(describing: error))")
        }
    }

    @Test func crcMismatchIsCorrupt() throws {
        var gz = try gzipCompress(payload)
        gz[gz.count - 8] ^= 0x01  // first byte of the CRC32 trailer
        let error = datasetError { _ = try gunzipIfNeeded(gz, path: "crc.gz") }
        guard case .corruptGzip(_, let reason)? = error else {
            Issue.record("expected corruptGzip, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("check"))
    }

    @Test func trailingGarbageIsCorrupt() throws {
        let gz = try gzipCompress(payload) + [0x00, 0x01, 0x02]
        let error = datasetError { _ = try gunzipIfNeeded(gz, path: "g.gz") }
        #expect(error == .corruptGzip(path: "g.gz", reason: "3 bytes of trailing garbage after the gzip data"))
    }
}
