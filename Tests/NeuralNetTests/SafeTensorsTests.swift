import Foundation
import NeuralNet
import Testing

// MARK: - Helpers (file-private so they cannot collide with other test files)

/// A stable name for each error case, used by the table-driven tests.
private func stKind(_ e: SafeTensorsError) -> String {
    switch e {
    case .fileTooShort: return "fileTooShort"
    case .invalidHeaderLength: return "invalidHeaderLength"
    case .invalidHeader: return "invalidHeader"
    case .invalidEntry: return "invalidEntry"
    case .unsupportedDType: return "unsupportedDType"
    case .invalidShape: return "invalidShape"
    case .invalidOffsets: return "invalidOffsets"
    case .offsetsOutOfBounds: return "offsetsOutOfBounds"
    case .sizeMismatch: return "sizeMismatch"
    case .overlappingTensors: return "overlappingTensors"
    case .uncoveredData: return "uncoveredData"
    case .duplicateName: return "duplicateName"
    case .invalidMetadata: return "invalidMetadata"
    case .invalidTensor: return "invalidTensor"
    case .valueCountMismatch: return "valueCountMismatch"
    case .io: return "io"
    }
}

/// Little-endian UInt64 length prefix + header bytes + data.
private func stCraft(headerBytes: [UInt8], data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    var out: [UInt8] = []
    var n = declaredLength ?? UInt64(headerBytes.count)
    for _ in 0..<8 {
        out.append(UInt8(n & 0xFF))
        n >>= 8
    }
    return out + headerBytes + data
}

private func stCraft(_ header: String, data: [UInt8] = []) -> [UInt8] {
    stCraft(headerBytes: Array(header.utf8), data: data)
}

private func stCraft(_ header: String, dataBytes: Int) -> [UInt8] {
    stCraft(header, data: [UInt8](repeating: 0, count: dataBytes))
}

/// Decodes and returns the SafeTensorsError thrown, or nil if decoding succeeded.
private func stDecodeError(_ bytes: [UInt8], file: String = "bad.safetensors") -> SafeTensorsError? {
    do {
        _ = try SafeTensors.decode(bytes, file: file)
        return nil
    } catch let e as SafeTensorsError {
        return e
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

private func stBits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

private func stHexLE(_ values: [Float]) -> String {
    var s = ""
    for v in values {
        var b = v.bitPattern.littleEndian
        withUnsafeBytes(of: &b) { for byte in $0 { s += String(format: "%02x", byte) } }
    }
    return s
}

private func stSampleTensors() -> [NamedTensor] {
    [
        NamedTensor(name: "encoder.w", shape: [3, 4], values: (0..<12).map { Float($0) * 0.5 - 2.75 }),
        NamedTensor(
            name: "encoder.b", shape: [4], values: [1.5, -0.0, .greatestFiniteMagnitude, .leastNonzeroMagnitude]),
        NamedTensor(name: "scalar", shape: [], values: [42.125]),
        NamedTensor(name: "empty", shape: [0], values: []),
        NamedTensor(name: "empty2d", shape: [2, 0, 3], values: []),
        NamedTensor(name: "Decoder.Ω", shape: [2, 1, 2], values: [.infinity, -.infinity, 1e-30, 3.0e38]),
    ]
}

private let stSampleMetadata = ["epoch": "12", "format": "pt", "note": "quote \" backslash \\ newline \n tab \t ü"]

// MARK: - Python interop availability

private struct STProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

private func stRunPython(_ script: String, _ args: [String] = []) -> STProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + args
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    do {
        try process.run()
    } catch {
        return STProcessResult(status: -1, stdout: "", stderr: "\(error)")
    }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return STProcessResult(
        status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
        stderr: String(decoding: e, as: UTF8.self))
}

private let stPythonSafetensorsAvailable: Bool = stRunPython("import safetensors, numpy").status == 0

private func stMakeTempDir() throws -> String {
    let dir = NSTemporaryDirectory() + "safetensors-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

// MARK: - Tests

@Suite("SafeTensors")
struct SafeTensorsTests {

    // MARK: Round trip, determinism, layout

    @Test func roundTripPreservesTensorsAndMetadata() throws {
        let tensors = stSampleTensors()
        let bytes = try SafeTensors.encode(tensors, metadata: stSampleMetadata)
        let (decoded, metadata) = try SafeTensors.decode(bytes)
        #expect(metadata == stSampleMetadata)
        let expected = tensors.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        #expect(decoded.map(\.name) == expected.map(\.name))
        for (d, e) in zip(decoded, expected) {
            #expect(d.shape == e.shape)
            #expect(stBits(d.values) == stBits(e.values), "values of \(e.name)")
        }
        #expect(decoded == expected)  // no NaNs in the sample, so == is meaningful
    }

    @Test func roundTripNaNBitPatternsAndNoMetadata() throws {
        let nanValues: [Float] = [.nan, -.nan, Float(bitPattern: 0x7FC0_1234), .signalingNaN]
        let t = NamedTensor(name: "nans", shape: [4], values: nanValues)
        let bytes = try SafeTensors.encode([t])
        let (decoded, metadata) = try SafeTensors.decode(bytes)
        #expect(metadata.isEmpty)
        #expect(decoded.count == 1)
        #expect(stBits(decoded[0].values) == stBits(nanValues))
        #expect(!String(decoding: bytes, as: UTF8.self).contains("__metadata__"))
    }

    @Test func emptyTensorListRoundTrips() throws {
        let bytes = try SafeTensors.encode([], metadata: ["k": "v"])
        let (decoded, metadata) = try SafeTensors.decode(bytes)
        #expect(decoded.isEmpty)
        #expect(metadata == ["k": "v"])
        let (none, noMeta) = try SafeTensors.decode(try SafeTensors.encode([]))
        #expect(none.isEmpty && noMeta.isEmpty)
    }

    @Test func exactByteLayout() throws {
        let bytes = try SafeTensors.encode(
            [
                NamedTensor(name: "b", shape: [1], values: [1]),
                NamedTensor(name: "a", shape: [2], values: [2, 3]),
            ],
            metadata: ["x": "y"])
        let header =
            #"{"__metadata__":{"x":"y"},"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},"#
            + #""b":{"data_offsets":[8,12],"dtype":"F32","shape":[1]}}"#
        var padded = Array(header.utf8)
        while padded.count % 8 != 0 { padded.append(0x20) }
        var expected = stCraft(headerBytes: padded)
        for v: Float in [2, 3, 1] {
            var b = v.bitPattern.littleEndian
            withUnsafeBytes(of: &b) { expected.append(contentsOf: $0) }
        }
        #expect(bytes == expected)
    }

    @Test func encodingIsDeterministicAndOrderIndependent() throws {
        let tensors = stSampleTensors()
        let a = try SafeTensors.encode(tensors, metadata: stSampleMetadata)
        let b = try SafeTensors.encode(tensors, metadata: stSampleMetadata)
        let c = try SafeTensors.encode(tensors.reversed(), metadata: stSampleMetadata)
        var rng = SystemRandomNumberGenerator()
        let d = try SafeTensors.encode(tensors.shuffled(using: &rng), metadata: stSampleMetadata)
        // A dictionary built in a different insertion order.
        var meta2: [String: String] = [:]
        for key in stSampleMetadata.keys.sorted().reversed() { meta2[key] = stSampleMetadata[key] }
        let e = try SafeTensors.encode(tensors, metadata: meta2)
        #expect(a == b)
        #expect(a == c)
        #expect(a == d)
        #expect(a == e)
    }

    @Test func headerIsPaddedTo8ByteAlignment() throws {
        // Vary the name length so every residue mod 8 of the raw JSON is exercised.
        for extra in 0..<16 {
            let name = "t" + String(repeating: "x", count: extra)
            let bytes = try SafeTensors.encode([NamedTensor(name: name, shape: [2], values: [1, 2])])
            var n: UInt64 = 0
            for k in (0..<8).reversed() { n = n << 8 | UInt64(bytes[k]) }
            #expect(n % 8 == 0, "header length \(n) for name length \(name.count)")
            let header = bytes[8..<(8 + Int(n))]
            let trimmed = header.reversed().drop { $0 == 0x20 }
            #expect(trimmed.first == UInt8(ascii: "}"))
            #expect(header.count - trimmed.count < 8)
            #expect(bytes.count == 8 + Int(n) + 8)
        }
    }

    @Test func decodeAcceptsUnpaddedAndWhitespaceHeaders() throws {
        let data: [UInt8] = [0, 0, 0x80, 0x3F]  // 1.0f
        let header =
            """
             { \"w\" : { \"dtype\" : \"F32\" , \"shape\" : [ 1 ] , \"data_offsets\" : [ 0 , 4 ] , \"extra\": [1, \
            {\"z\": null}] } }\n
            """
        let (t, m) = try SafeTensors.decode(stCraft(header, data: data))
        #expect(t == [NamedTensor(name: "w", shape: [1], values: [1.0])])
        #expect(m.isEmpty)
        // Null metadata is accepted as empty; escapes in names are decoded.
        let (t2, m2) = try SafeTensors.decode(
            stCraft(
                #"{"__metadata__":null,"a\u00e9\ud83d\ude00\/":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#,
                data: data))
        #expect(t2.map(\.name) == ["aé😀/"])
        #expect(m2.isEmpty)
    }

    @Test func largeTensorRoundTrip() throws {
        let n = 1 << 20
        let values = [Float](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = Float(i % 9973) * 0.001 - 3 }
            count = n
        }
        let t = NamedTensor(name: "big", shape: [1024, 1024], values: values)
        let bytes = try SafeTensors.encode([t, NamedTensor(name: "small", shape: [1], values: [7])])
        #expect(bytes.count > 4 * n)
        let (decoded, _) = try SafeTensors.decode(bytes)
        #expect(decoded.count == 2)
        #expect(decoded[0].shape == [1024, 1024])
        #expect(decoded[0].values == values)
        #expect(decoded[1].values == [7])
    }

    // MARK: Files

    @Test func writeAndReadFile() throws {
        let dir = try stMakeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.safetensors"
        try SafeTensors.write(stSampleTensors(), metadata: stSampleMetadata, to: path)
        // Overwrite in place (atomic replace) with different content.
        try SafeTensors.write([NamedTensor(name: "only", shape: [2], values: [1, 2])], to: path)
        let (t, m) = try SafeTensors.read(path: path)
        #expect(t == [NamedTensor(name: "only", shape: [2], values: [1, 2])])
        #expect(m.isEmpty)
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["model.safetensors"])
        // File bytes equal the in-memory encoding.
        let onDisk = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(onDisk == (try SafeTensors.encode([NamedTensor(name: "only", shape: [2], values: [1, 2])])))
    }

    @Test func writeFailureLeavesNoFileAndNamesPath() throws {
        let dir = try stMakeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = dir + "/no/such/dir/x.safetensors"
        let e = #expect(throws: SafeTensorsError.self) {
            try SafeTensors.write([NamedTensor(name: "a", shape: [1], values: [1])], to: missing)
        }
        #expect(e.map(stKind) == "io")
        #expect(e?.description.contains(missing) == true)
        // An encode error on write names the target path and creates nothing.
        let path = dir + "/bad.safetensors"
        #expect(throws: SafeTensorsError.valueCountMismatch(file: path, tensor: "a", expected: 2, actual: 1)) {
            try SafeTensors.write([NamedTensor(name: "a", shape: [2], values: [1])], to: path)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func readMissingFileIsIOError() throws {
        let path = "/nonexistent-dir-\(UUID().uuidString)/m.safetensors"
        let e = #expect(throws: SafeTensorsError.self) { try SafeTensors.read(path: path) }
        #expect(e.map(stKind) == "io")
        #expect(e?.file == path)
        #expect(e?.description.contains(path) == true)
    }

    @Test func readReportsFileNameInValidationErrors() throws {
        let dir = try stMakeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/short.safetensors"
        #expect(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3])))
        #expect(throws: SafeTensorsError.fileTooShort(file: path, size: 3)) { try SafeTensors.read(path: path) }
    }

    // MARK: Encode validation

    @Test func encodeRejectsInvalidInput() {
        #expect(throws: SafeTensorsError.duplicateName(file: "<memory>", name: "a")) {
            try SafeTensors.encode([
                NamedTensor(name: "a", shape: [1], values: [1]), NamedTensor(name: "a", shape: [1], values: [2]),
            ])
        }
        #expect(throws: SafeTensorsError.valueCountMismatch(file: "<memory>", tensor: "a", expected: 6, actual: 5)) {
            try SafeTensors.encode([NamedTensor(name: "a", shape: [2, 3], values: [1, 2, 3, 4, 5])])
        }
        #expect(throws: SafeTensorsError.valueCountMismatch(file: "<memory>", tensor: "s", expected: 1, actual: 0)) {
            try SafeTensors.encode([NamedTensor(name: "s", shape: [], values: [])])
        }
        let cases: [(NamedTensor, String)] = [
            (NamedTensor(name: "", shape: [1], values: [1]), "empty"),
            (NamedTensor(name: "__metadata__", shape: [1], values: [1]), "reserved"),
            (NamedTensor(name: "neg", shape: [-1], values: []), "negative"),
            (NamedTensor(name: "huge", shape: [Int.max, 2], values: []), "overflows"),
            (NamedTensor(name: "huge4", shape: [Int.max / 2], values: []), "overflows"),
        ]
        for (t, fragment) in cases {
            let e = #expect(throws: SafeTensorsError.self) { try SafeTensors.encode([t]) }
            #expect(e.map(stKind) == "invalidTensor", "\(t.name)")
            #expect(e?.description.contains(fragment) == true, "\(e?.description ?? "")")
        }
    }

    // MARK: Decode validation (crafted buffers)

    struct BadFile: Sendable, CustomTestStringConvertible {
        var label: String
        var bytes: [UInt8]
        var kind: String
        var fragment: String
        var testDescription: String { label }
    }

    static let e4 = #"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#

    static let badFiles: [BadFile] = [
        BadFile(label: "empty file", bytes: [], kind: "fileTooShort", fragment: "0 bytes"),
        BadFile(label: "7 bytes", bytes: [1, 0, 0, 0, 0, 0, 0], kind: "fileTooShort", fragment: "7 bytes"),
        BadFile(
            label: "header length beyond file", bytes: stCraft(headerBytes: Array("{}".utf8), declaredLength: 50),
            kind: "invalidHeaderLength", fragment: "exceeds the 2 bytes"),
        BadFile(
            label: "absurd header length", bytes: stCraft(headerBytes: Array("{}".utf8), declaredLength: 200_000_000),
            kind: "invalidHeaderLength", fragment: "limit"),
        BadFile(
            label: "UInt64.max header length", bytes: stCraft(headerBytes: Array("{}".utf8), declaredLength: .max),
            kind: "invalidHeaderLength", fragment: "18446744073709551615"),
        BadFile(label: "zero header length", bytes: stCraft(""), kind: "invalidHeader", fragment: "empty document"),
        BadFile(
            label: "invalid UTF-8", bytes: stCraft(headerBytes: [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]),
            kind: "invalidHeader", fragment: "UTF-8"),
        BadFile(label: "not JSON", bytes: stCraft("{\"a\": "), kind: "invalidHeader", fragment: "JSON"),
        BadFile(label: "trailing garbage", bytes: stCraft("{} x"), kind: "invalidHeader", fragment: "trailing"),
        BadFile(label: "top-level array", bytes: stCraft("[]"), kind: "invalidHeader", fragment: "found an array"),
        BadFile(label: "top-level string", bytes: stCraft("\"x\""), kind: "invalidHeader", fragment: "a string"),
        BadFile(
            label: "deep nesting", bytes: stCraft("{\"a\":" + String(repeating: "[", count: 100_000) + "}"),
            kind: "invalidHeader", fragment: "nesting"),
        BadFile(label: "entry not object", bytes: stCraft(#"{"a":[1]}"#), kind: "invalidEntry", fragment: "an array"),
        BadFile(
            label: "missing dtype", bytes: stCraft(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidEntry", fragment: "missing field \"dtype\""),
        BadFile(
            label: "missing shape", bytes: stCraft(#"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidEntry", fragment: "missing field \"shape\""),
        BadFile(
            label: "missing data_offsets", bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1]}}"#, dataBytes: 4),
            kind: "invalidEntry", fragment: "missing field \"data_offsets\""),
        BadFile(
            label: "dtype not string",
            bytes: stCraft(#"{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidEntry", fragment: "\"dtype\" is a number"),
        BadFile(
            label: "shape not array",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidEntry", fragment: "\"shape\" is a string"),
        BadFile(
            label: "duplicate field",
            bytes: stCraft(#"{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidEntry", fragment: "duplicate field"),
        BadFile(
            label: "dtype F16",
            bytes: stCraft(#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "unsupportedDType", fragment: "\"F16\""),
        BadFile(
            label: "dtype f32 lowercase",
            bytes: stCraft(#"{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "unsupportedDType", fragment: "\"f32\""),
        BadFile(
            label: "negative dim",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidShape", fragment: "negative"),
        BadFile(
            label: "fractional dim",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidShape", fragment: "not an integer"),
        BadFile(
            label: "exponent dim",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidShape", fragment: "not an integer"),
        BadFile(
            label: "string dim",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidShape", fragment: "a string"),
        BadFile(
            label: "dim beyond Int",
            bytes: stCraft(
                #"{"a":{"dtype":"F32","shape":[99999999999999999999999],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidShape", fragment: "out of range"),
        BadFile(
            label: "product overflow",
            bytes: stCraft(
                #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidShape", fragment: "overflows"),
        BadFile(
            label: "byte size overflow",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "invalidShape", fragment: "overflows"),
        BadFile(
            label: "offsets one element",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}"#, dataBytes: 4),
            kind: "invalidOffsets", fragment: "found 1 elements"),
        BadFile(
            label: "offsets three elements",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#, dataBytes: 4),
            kind: "invalidOffsets", fragment: "found 3 elements"),
        BadFile(
            label: "offsets not array",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":4}}"#, dataBytes: 4),
            kind: "invalidOffsets", fragment: "found a number"),
        BadFile(
            label: "offsets fractional",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}"#, dataBytes: 4),
            kind: "invalidOffsets", fragment: "not an integer"),
        BadFile(
            label: "offsets string",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":["0",4]}}"#, dataBytes: 4),
            kind: "invalidOffsets", fragment: "a string"),
        BadFile(
            label: "offsets negative",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, dataBytes: 4),
            kind: "invalidOffsets", fragment: "non-negative"),
        BadFile(
            label: "begin > end",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, dataBytes: 4),
            kind: "invalidOffsets", fragment: "begin 4 is greater than end 0"),
        BadFile(
            label: "end beyond data",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 4),
            kind: "offsetsOutOfBounds", fragment: "end 8"),
        BadFile(
            label: "huge end",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,9223372036854775807]}}"#),
            kind: "offsetsOutOfBounds", fragment: "beyond"),
        BadFile(
            label: "length != 4*product",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, dataBytes: 4),
            kind: "sizeMismatch", fragment: "requires 8 bytes"),
        BadFile(
            label: "overlap",
            bytes: stCraft(
                #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
                    + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                dataBytes: 12),
            kind: "overlappingTensors", fragment: "\"b\" overlaps tensor \"a\""),
        BadFile(
            label: "identical ranges",
            bytes: stCraft(#"{"a":\#(e4),"b":\#(e4)}"#, dataBytes: 4),
            kind: "overlappingTensors", fragment: "overlaps"),
        BadFile(
            label: "gap between tensors",
            bytes: stCraft(
                #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
                    + #""b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                dataBytes: 12),
            kind: "uncoveredData", fragment: "4..<8"),
        BadFile(
            label: "gap at start",
            bytes: stCraft(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, dataBytes: 8),
            kind: "uncoveredData", fragment: "0..<4"),
        BadFile(
            label: "trailing data", bytes: stCraft(#"{"a":\#(e4)}"#, dataBytes: 6),
            kind: "uncoveredData", fragment: "4..<6"),
        BadFile(
            label: "data with no tensors", bytes: stCraft("{}", dataBytes: 3),
            kind: "uncoveredData", fragment: "0..<3"),
        BadFile(
            label: "duplicate name", bytes: stCraft(#"{"a":\#(e4),"a":\#(e4)}"#, dataBytes: 4),
            kind: "duplicateName", fragment: "\"a\""),
        BadFile(
            label: "metadata value number", bytes: stCraft(#"{"__metadata__":{"k":1}}"#),
            kind: "invalidMetadata", fragment: "\"k\" is a number"),
        BadFile(
            label: "metadata value object", bytes: stCraft(#"{"__metadata__":{"k":{"x":"y"}}}"#),
            kind: "invalidMetadata", fragment: "an object"),
        BadFile(
            label: "metadata not object", bytes: stCraft(#"{"__metadata__":["k"]}"#),
            kind: "invalidMetadata", fragment: "found an array"),
        BadFile(
            label: "metadata twice", bytes: stCraft(#"{"__metadata__":{},"__metadata__":{}}"#),
            kind: "invalidMetadata", fragment: "twice"),
        BadFile(
            label: "metadata duplicate key", bytes: stCraft(#"{"__metadata__":{"k":"a","k":"b"}}"#),
            kind: "invalidMetadata", fragment: "duplicate key"),
        BadFile(
            label: "lone surrogate escape", bytes: stCraft(#"{"\ud800":{}}"#),
            kind: "invalidHeader", fragment: "surrogate"),
        BadFile(
            label: "raw control char in string", bytes: stCraft("{\"a\nb\":{}}"),
            kind: "invalidHeader", fragment: "control character"),
    ]

    @Test(arguments: badFiles)
    func decodeRejects(_ bad: BadFile) throws {
        let e = try #require(stDecodeError(bad.bytes, file: "bad.safetensors"), "decoding should fail")
        #expect(stKind(e) == bad.kind, "\(e)")
        #expect(e.file == "bad.safetensors")
        let message = e.description
        #expect(message.contains(bad.fragment), "message: \(message)")
        #expect(message.contains("bad.safetensors"), "message: \(message)")
        #expect(!message.contains("\n"), "message: \(message)")
    }

    @Test func errorValuesAreExact() {
        #expect(stDecodeError([1, 2, 3], file: "f") == .fileTooShort(file: "f", size: 3))
        #expect(
            stDecodeError(stCraft(#"{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, dataBytes: 4), file: "f")
                == .unsupportedDType(file: "f", tensor: "w", dtype: "BF16"))
        #expect(
            stDecodeError(stCraft(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8), file: "f")
                == .sizeMismatch(file: "f", tensor: "w", expectedBytes: 12, actualBytes: 8))
        #expect(
            stDecodeError(stCraft(#"{"w":\#(Self.e4),"w":\#(Self.e4)}"#, dataBytes: 4), file: "f")
                == .duplicateName(file: "f", name: "w"))
        let desc = SafeTensorsError.unsupportedDType(file: "m.st", tensor: "w", dtype: "I8").description
        #expect(desc == #"safetensors: m.st: tensor "w": unsupported dtype "I8" (only "F32" is supported)"#)
        // Names with newlines are escaped, keeping messages on one line.
        let weird = SafeTensorsError.duplicateName(file: "a\nb", name: "x\ny").description
        #expect(!weird.contains("\n"))
    }

    @Test func zeroSizedTensorsMayShareOffsets() throws {
        let header =
            #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"#
            + #""b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
            + #""c":{"dtype":"F32","shape":[3,0],"data_offsets":[4,4]}}"#
        let (t, _) = try SafeTensors.decode(stCraft(header, data: [0, 0, 0x80, 0xBF]))
        #expect(t.map(\.name) == ["a", "b", "c"])
        #expect(t[1].values == [-1])
        #expect(t[0].values.isEmpty && t[2].shape == [3, 0])
    }

    // MARK: Robustness

    @Test func everyTruncationThrows() throws {
        let bytes = try SafeTensors.encode(stSampleTensors(), metadata: stSampleMetadata)
        for cut in 0..<bytes.count {
            let e = stDecodeError(Array(bytes[..<cut]))
            #expect(e != nil, "truncation at \(cut) of \(bytes.count) decoded successfully")
        }
        #expect(stDecodeError(bytes) == nil)
    }

    @Test func bitFlipsNeverCrash() throws {
        let tensors = stSampleTensors()
        let bytes = try SafeTensors.encode(tensors, metadata: ["a": "b"])
        var n = 0
        for k in (0..<8).reversed() { n = n << 8 | Int(bytes[k]) }
        var failures = 0
        // Every single-bit flip in the length prefix and the header.
        for byteIndex in 0..<(8 + n) {
            for bit in 0..<8 {
                var mutated = bytes
                mutated[byteIndex] ^= UInt8(1 << bit)
                do {
                    let (decoded, _) = try SafeTensors.decode(mutated)
                    // If a flip still decodes (e.g. a changed letter in a name), the result
                    // must be internally consistent.
                    for t in decoded {
                        #expect(t.values.count == t.shape.reduce(1, *))
                    }
                } catch is SafeTensorsError {
                    failures += 1
                } catch {
                    Issue.record("unexpected error \(error)")
                }
            }
        }
        #expect(failures > 0)
        // Specific flips that must be detected.
        var brace = bytes
        brace[8] ^= 0x01  // '{' -> 'z'
        #expect(stDecodeError(brace).map(stKind) == "invalidHeader")
        var lengthHigh = bytes
        lengthHigh[7] ^= 0x80  // astronomically large header length
        #expect(stDecodeError(lengthHigh).map(stKind) == "invalidHeaderLength")
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        let dtypeAt = try #require(header.utf8.firstRange(of: Array("\"F32\"".utf8)))
        var dtype = bytes
        dtype[8 + header.utf8.distance(from: header.utf8.startIndex, to: dtypeAt.lowerBound) + 1] ^= 0x20  // F -> f
        #expect(stDecodeError(dtype).map(stKind) == "unsupportedDType")
    }

    @Test func randomMutationsNeverCrash() throws {
        let bytes = try SafeTensors.encode(stSampleTensors(), metadata: stSampleMetadata)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        for _ in 0..<2000 {
            var mutated = bytes
            for _ in 0..<(1 + Int(next() % 4)) {
                let i = Int(next() % UInt64(mutated.count))
                mutated[i] = UInt8(truncatingIfNeeded: next())
            }
            if next() % 4 == 0 { mutated.removeLast(Int(next() % UInt64(mutated.count))) }
            _ = stDecodeError(mutated)  // must not trap; any SafeTensorsError is fine
        }
    }

    // MARK: Python interoperability

    @Test(.enabled(if: stPythonSafetensorsAvailable, "python3 with safetensors and numpy is required"))
    func pythonLoadsSwiftFile() throws {
        let dir = try stMakeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/from_swift.safetensors"
        let tensors =
            stSampleTensors() + [
                NamedTensor(name: "nan", shape: [2], values: [.nan, -1]),
                NamedTensor(name: "mid", shape: [10, 10], values: (0..<100).map { Float($0).squareRoot() }),
            ]
        try SafeTensors.write(tensors, metadata: stSampleMetadata, to: path)
        let script = """
            import sys, json, numpy as np
            from safetensors.numpy import load_file
            from safetensors import safe_open
            d = load_file(sys.argv[1])
            out = {}
            for k, v in d.items():
                assert v.dtype == np.float32, v.dtype
                out[k] = {"shape": [int(s) for s in v.shape], "hex": v.astype("<f4").tobytes().hex()}
            with safe_open(sys.argv[1], framework="numpy") as f:
                meta = f.metadata()
            print(json.dumps({"tensors": out, "metadata": meta}))
            """
        let result = stRunPython(script, [path])
        try #require(result.status == 0, "python failed: \(result.stderr)")
        let json = try #require(
            JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            "bad output: \(result.stdout)")
        let pyTensors = try #require(json["tensors"] as? [String: [String: Any]])
        let pyMeta = try #require(json["metadata"] as? [String: String])
        #expect(pyMeta == stSampleMetadata)
        #expect(Set(pyTensors.keys) == Set(tensors.map(\.name)))
        for t in tensors {
            let entry = try #require(pyTensors[t.name], "missing \(t.name)")
            #expect((entry["shape"] as? [Int]) == t.shape, "shape of \(t.name)")
            #expect((entry["hex"] as? String) == stHexLE(t.values), "values of \(t.name)")
        }
    }

    @Test(.enabled(if: stPythonSafetensorsAvailable, "python3 with safetensors and numpy is required"))
    func swiftReadsPythonFile() throws {
        let dir = try stMakeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/from_python.safetensors"
        let script = """
            import sys, json, numpy as np
            from safetensors.numpy import save_file
            t = {
                "weight": (np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 1).astype(np.float32),
                "bias": np.array([1.5, -2.25, 3e-8], dtype=np.float32),
                "scalar": np.array(7.0, dtype=np.float32),
                "empty": np.zeros((0, 3), dtype=np.float32),
                "layer.0.w": np.linspace(-1, 1, 1000, dtype=np.float32).reshape(10, 100),
                "z": np.random.default_rng(0).standard_normal((5, 7, 3)).astype(np.float32),
            }
            save_file(t, sys.argv[1], metadata={"epoch": "3", "format": "np", "ünï": "cödé"})
            print(json.dumps({k: {"shape": [int(s) for s in v.shape], "hex": v.astype("<f4").tobytes().hex()}
                              for k, v in t.items()}))
            """
        let result = stRunPython(script, [path])
        try #require(result.status == 0, "python failed: \(result.stderr)")
        let expected = try #require(
            JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [String: Any]],
            "bad output: \(result.stdout)")
        let (tensors, metadata) = try SafeTensors.read(path: path)
        #expect(metadata == ["epoch": "3", "format": "np", "ünï": "cödé"])
        #expect(Set(tensors.map(\.name)) == Set(expected.keys))
        for t in tensors {
            let entry = try #require(expected[t.name])
            #expect((entry["shape"] as? [Int]) == t.shape, "shape of \(t.name)")
            #expect((entry["hex"] as? String) == stHexLE(t.values), "values of \(t.name)")
        }
        // Re-encoding what Python wrote and decoding again is lossless.
        let (again, meta2) = try SafeTensors.decode(try SafeTensors.encode(tensors, metadata: metadata))
        #expect(again == tensors && meta2 == metadata)
    }
}
