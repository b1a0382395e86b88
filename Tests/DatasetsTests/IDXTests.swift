import Datasets
import Foundation
import Testing

/// IDX parsing: round trips, scaling, and malformed headers and payloads.
@Suite struct IDXTests {
    @Test(arguments: [false, true])
    func imagesRoundTripWithScaling(gzipped: Bool) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let pixels: [UInt8] = [0, 1, 127, 128, 254, 255] + syntheticPixels(count: 2, rows: 3, cols: 4).prefix(18)
        let raw = makeIDX(magic: 0x803, dimensions: [2, 3, 4], payload: pixels)
        let path = try dir.write("images" + (gzipped ? ".gz" : ""), gzipped ? try gzipCompress(raw) : raw)

        let idx = try readIDX(path: path)
        #expect(idx.magic == 0x803)
        #expect(idx.dimensions == [2, 3, 4])
        #expect(idx.count == 2)
        #expect(idx.itemSize == 12)
        #expect(idx.bytes() == pixels)
        #expect(idx.bytes(limit: 1) == Array(pixels[..<12]))

        let floats = idx.scaledFloats()
        #expect(floats.count == 24)
        #expect(floats == pixels.map { Float($0) / 255 })
        #expect(floats[0] == 0)
        #expect(floats[5] == 1)
        #expect(idx.scaledFloats(limit: 1) == Array(floats[..<12]))
    }

    @Test func labelsRoundTrip() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let labels: [UInt8] = [5, 0, 4, 1, 9]
        let path = try dir.write("labels", makeIDX(magic: 0x801, dimensions: [5], payload: labels))
        let idx = try readIDX(path: path)
        #expect(idx.magic == 0x801)
        #expect(idx.dimensions == [5])
        #expect(idx.itemSize == 1)
        #expect(idx.bytes() == labels)
    }

    @Test func wrongMagicNamesFoundAndExpected() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = try dir.write("bad", makeIDX(magic: 0x0000_0802, dimensions: [2, 2], payload: [1, 2, 3, 4]))
        let error = datasetError { _ = try readIDX(path: path) }
        #expect(error == .wrongMagic(path: path, found: 0x802, expected: [0x801, 0x803]))
        let message = error?.description ?? ""
        #expect(message.contains(path))
        #expect(message.contains("0x00000802"))
        #expect(message.contains("0x00000801 or 0x00000803"))
    }

    @Test func floatMagicIsRejected() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = try dir.write("f", makeIDX(magic: 0x0000_0D01, dimensions: [1], payload: [0, 0, 0, 0]))
        #expect(throws: DatasetError.wrongMagic(path: path, found: 0xD01, expected: [0x801, 0x803])) {
            try readIDX(path: path)
        }
    }

    @Test func truncatedPayloadIsAnError() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let raw = makeIDX(magic: 0x803, dimensions: [2, 3, 4], payload: [UInt8](repeating: 7, count: 23))
        let path = try dir.write("short.gz", try gzipCompress(raw))
        let error = datasetError { _ = try readIDX(path: path) }
        #expect(error == .payloadSizeMismatch(path: path, expected: 24, actual: 23))
        #expect(error?.description.contains("truncated") == true)
    }

    @Test func trailingBytesAreAnError() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let raw = makeIDX(magic: 0x801, dimensions: [3], payload: [1, 2, 3, 4])
        let path = try dir.write("long", raw)
        let error = datasetError { _ = try readIDX(path: path) }
        #expect(error == .payloadSizeMismatch(path: path, expected: 3, actual: 4))
        #expect(error?.description.contains("trailing bytes") == true)
    }

    @Test func truncatedHeaderIsAnError() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let full = makeIDX(magic: 0x803, dimensions: [1, 1, 1], payload: [0])
        let path = try dir.write("hdr", Array(full[..<10]))
        #expect(throws: DatasetError.headerTooShort(path: path, size: 10, needed: 16)) { try readIDX(path: path) }
        let empty = try dir.write("empty", [])
        #expect(throws: DatasetError.headerTooShort(path: empty, size: 0, needed: 4)) { try readIDX(path: empty) }
    }

    @Test func missingFileIsAnError() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = dir.file("nope.gz")
        let error = datasetError { _ = try readIDX(path: path) }
        guard case .fileNotFound(let errorPath, _)? = error else {
            Issue.record("expected fileNotFound, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
    }

    @Test func directoryIsAReadError() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        #expect(throws: DatasetError.readFailed(path: dir.path, reason: "is a directory")) {
            try readIDX(path: dir.path)
        }
    }
}
