// SafeTensors.swift — checkpoint I/O in the huggingface "safetensors" format.
//
// Layout of a file:
//   [8 bytes]  N = header length, little-endian UInt64
//   [N bytes]  UTF-8 JSON object: name -> {"dtype","shape","data_offsets"}, plus an
//              optional "__metadata__" object of string -> string. May be padded
//              with trailing spaces (we always pad to a multiple of 8).
//   [rest]     data section: raw little-endian tensor bytes; offsets are relative
//              to the start of this section, which must be covered exactly.
//
// Only F32 tensors are supported. Encoding is deterministic: tensors (and all
// JSON keys) are sorted by the UTF-8 bytes of their names, so the same input
// always produces a byte-identical file. Decoding validates everything and
// reports problems as `SafeTensorsError` values; it never traps, and it never
// allocates more than the size of the input it was given.
//
// Foundation only.

import Foundation
import Support

#if canImport(Darwin)
    import Darwin
#elseif canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

// MARK: - Public types

/// A named F32 tensor: `values` are stored row-major, `values.count == shape.product`.
/// A scalar has `shape == []` (one value); an empty tensor has a 0 in its shape.
public struct NamedTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]

    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// Everything that can go wrong reading or writing a safetensors file.
/// `description` is a single line naming the file and the problem.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    /// The file is shorter than the 8-byte header-length prefix.
    case fileTooShort(file: String, size: Int)
    /// The header length prefix exceeds the file size or the sanity limit.
    case invalidHeaderLength(file: String, length: UInt64, available: Int)
    /// The header is not valid UTF-8, not valid JSON, or not a JSON object.
    case invalidHeader(file: String, reason: String)
    /// A tensor entry is not an object, misses a field, or has a field of the wrong type.
    case invalidEntry(file: String, tensor: String, reason: String)
    /// A tensor's dtype is not "F32".
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// A shape dimension is negative / not an integer, or the element count overflows.
    case invalidShape(file: String, tensor: String, reason: String)
    /// `data_offsets` is not two non-negative integers with begin <= end.
    case invalidOffsets(file: String, tensor: String, reason: String)
    /// `data_offsets` end lies beyond the data section.
    case offsetsOutOfBounds(file: String, tensor: String, end: Int, dataSize: Int)
    /// The byte range length does not equal 4 * product(shape).
    case sizeMismatch(file: String, tensor: String, expectedBytes: Int, actualBytes: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(file: String, tensor: String, other: String)
    /// Bytes `begin..<end` of the data section belong to no tensor.
    case uncoveredData(file: String, begin: Int, end: Int)
    /// The same tensor name occurs twice.
    case duplicateName(file: String, name: String)
    /// `__metadata__` is not an object of string -> string.
    case invalidMetadata(file: String, reason: String)
    /// Encode: a tensor cannot be written (empty/reserved name, bad shape).
    case invalidTensor(file: String, tensor: String, reason: String)
    /// Encode: `values.count` does not match the shape.
    case valueCountMismatch(file: String, tensor: String, expected: Int, actual: Int)
    /// Reading or writing the file failed at the OS level.
    case io(file: String, reason: String)

    /// The file (or "<memory>") the error refers to.
    public var file: String {
        switch self {
        case .fileTooShort(let f, _), .invalidHeaderLength(let f, _, _), .invalidHeader(let f, _),
            .invalidEntry(let f, _, _), .unsupportedDType(let f, _, _), .invalidShape(let f, _, _),
            .invalidOffsets(let f, _, _), .offsetsOutOfBounds(let f, _, _, _),
            .sizeMismatch(let f, _, _, _), .overlappingTensors(let f, _, _),
            .uncoveredData(let f, _, _), .duplicateName(let f, _), .invalidMetadata(let f, _),
            .invalidTensor(let f, _, _), .valueCountMismatch(let f, _, _, _), .io(let f, _):
            return f
        }
    }

    public var description: String {
        let message: String
        switch self {
        case .fileTooShort(_, let size):
            message = "file is \(size) bytes, shorter than the 8-byte header length prefix"
        case .invalidHeaderLength(_, let length, let available):
            if length > UInt64(SafeTensors.maxHeaderLength) {
                message = "header length \(length) exceeds the limit of \(SafeTensors.maxHeaderLength) bytes"
            } else {
                message = "header length \(length) exceeds the \(available) bytes available after the length prefix"
            }
        case .invalidHeader(_, let reason):
            message = "invalid header: \(reason)"
        case .invalidEntry(_, let tensor, let reason):
            message = "tensor \(stQuote(tensor)): \(reason)"
        case .unsupportedDType(_, let tensor, let dtype):
            message = "tensor \(stQuote(tensor)): unsupported dtype \(stQuote(dtype)) (only \"F32\" is supported)"
        case .invalidShape(_, let tensor, let reason):
            message = "tensor \(stQuote(tensor)): invalid shape: \(reason)"
        case .invalidOffsets(_, let tensor, let reason):
            message = "tensor \(stQuote(tensor)): invalid data_offsets: \(reason)"
        case .offsetsOutOfBounds(_, let tensor, let end, let dataSize):
            message =
                "tensor \(stQuote(tensor)): data_offsets end \(end) is beyond the data section (\(dataSize) bytes)"
        case .sizeMismatch(_, let tensor, let expected, let actual):
            message =
                "tensor \(stQuote(tensor)): data_offsets span \(actual) bytes but the shape requires \(expected) bytes"
        case .overlappingTensors(_, let tensor, let other):
            message = "tensor \(stQuote(tensor)) overlaps tensor \(stQuote(other)) in the data section"
        case .uncoveredData(_, let begin, let end):
            message = "data section bytes \(begin)..<\(end) are not covered by any tensor"
        case .duplicateName(_, let name):
            message = "duplicate tensor name \(stQuote(name))"
        case .invalidMetadata(_, let reason):
            message = "invalid __metadata__: \(reason)"
        case .invalidTensor(_, let tensor, let reason):
            message = "cannot encode tensor \(stQuote(tensor)): \(reason)"
        case .valueCountMismatch(_, let tensor, let expected, let actual):
            message =
                "cannot encode tensor \(stQuote(tensor)): shape requires \(expected) values but \(actual) were given"
        case .io(_, let reason):
            message = reason
        }
        return "safetensors: \(stQuote(file, onlyIfNeeded: true)): \(stOneLine(message))"
    }
}

// MARK: - Public API

public enum SafeTensors {
    /// Upper bound on the JSON header size (same limit as the reference implementation).
    public static let maxHeaderLength = 100_000_000

    /// Serializes `tensors` (any order) and `metadata` into safetensors bytes.
    /// Tensors are sorted by name; the result is byte-identical for equal inputs.
    public static func encode(_ tensors: [NamedTensor], metadata: [String: String] = [:]) throws -> [UInt8] {
        try encode(tensors, metadata: metadata, file: "<memory>")
    }

    /// Parses and validates safetensors bytes. Tensors are returned sorted by name.
    public static func decode(_ bytes: [UInt8], file: String = "<memory>") throws
        -> (tensors: [NamedTensor], metadata: [String: String])
    {
        try bytes.withUnsafeBytes { try decode(raw: $0, file: file) }
    }

    /// Parses and validates safetensors bytes held in `Data`.
    public static func decode(_ data: Data, file: String = "<memory>") throws
        -> (tensors: [NamedTensor], metadata: [String: String])
    {
        try data.withUnsafeBytes { try decode(raw: $0, file: file) }
    }

    /// Writes a safetensors file atomically: the bytes go to a temporary file in the
    /// same directory, which is fsync'ed and then renamed over `path`.
    public static func write(_ tensors: [NamedTensor], metadata: [String: String] = [:], to path: String) throws {
        let bytes = try encode(tensors, metadata: metadata, file: path)
        do {
            try AtomicFile.write(bytes, to: path)
        } catch let error as WriteError {
            throw SafeTensorsError.io(file: path, reason: error.reason)
        }
    }

    /// Reads and validates a safetensors file.
    public static func read(path: String) throws -> (tensors: [NamedTensor], metadata: [String: String]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw SafeTensorsError.io(file: path, reason: "cannot read file: \(error.localizedDescription)")
        }
        return try data.withUnsafeBytes { try decode(raw: $0, file: path) }
    }
}

// MARK: - Encoding

extension SafeTensors {
    static let metadataKey = "__metadata__"

    static func encode(_ tensors: [NamedTensor], metadata: [String: String], file: String) throws -> [UInt8] {
        let counts = try validate(tensors, file: file)
        let order = tensors.indices.sorted { utf8Less(tensors[$0].name, tensors[$1].name) }
        // Contiguous offsets in name order.
        var offsets = [(begin: Int, end: Int)](repeating: (0, 0), count: tensors.count)
        var cursor = 0
        for i in order {
            let byteCount = counts[i] * 4  // cannot overflow: elementCount checked count * 4
            offsets[i] = (cursor, cursor + byteCount)
            cursor += byteCount
        }
        let header = self.header(tensors, offsets: offsets, metadata: metadata)
        return assemble(header: header, tensors: tensors, order: order, offsets: offsets, dataSize: cursor)
    }

    /// Each tensor's element count, after checking names (non-empty, not reserved, unique) and
    /// that shape and values agree.
    private static func validate(_ tensors: [NamedTensor], file: String) throws -> [Int] {
        var seen = Set<[UInt8]>()
        return try tensors.map { t in
            if t.name.isEmpty {
                throw SafeTensorsError.invalidTensor(file: file, tensor: t.name, reason: "name is empty")
            }
            if t.name == metadataKey {
                throw SafeTensorsError.invalidTensor(
                    file: file, tensor: t.name, reason: "the name \"__metadata__\" is reserved")
            }
            let count: Int
            switch elementCount(t.shape) {
            case .success(let c): count = c
            case .failure(let reason):
                throw SafeTensorsError.invalidTensor(file: file, tensor: t.name, reason: reason.description)
            }
            if count != t.values.count {
                throw SafeTensorsError.valueCountMismatch(
                    file: file, tensor: t.name, expected: count, actual: t.values.count)
            }
            if !seen.insert(Array(t.name.utf8)).inserted {
                throw SafeTensorsError.duplicateName(file: file, name: t.name)
            }
            return count
        }
    }

    /// The JSON header, keys sorted by UTF-8 bytes, space-padded to a multiple of 8 bytes.
    private static func header(_ tensors: [NamedTensor], offsets: [(begin: Int, end: Int)], metadata: [String: String])
        -> [UInt8]
    {
        var entries: [(key: String, json: [UInt8])] = []
        entries.reserveCapacity(tensors.count + 1)
        if !metadata.isEmpty {
            var json: [UInt8] = [UInt8(ascii: "{")]
            for (k, key) in metadata.keys.sorted(by: utf8Less).enumerated() {
                if k > 0 { json.append(UInt8(ascii: ",")) }
                appendJSONString(key, to: &json)
                json.append(UInt8(ascii: ":"))
                appendJSONString(metadata[key]!, to: &json)
            }
            json.append(UInt8(ascii: "}"))
            entries.append((metadataKey, json))
        }
        for (t, offset) in zip(tensors, offsets) {
            let shape = t.shape.map(String.init).joined(separator: ",")
            let json = #"{"data_offsets":[\#(offset.begin),\#(offset.end)],"dtype":"F32","shape":[\#(shape)]}"#
            entries.append((t.name, Array(json.utf8)))
        }
        entries.sort { utf8Less($0.key, $1.key) }
        var header: [UInt8] = [UInt8(ascii: "{")]
        for (e, entry) in entries.enumerated() {
            if e > 0 { header.append(UInt8(ascii: ",")) }
            appendJSONString(entry.key, to: &header)
            header.append(UInt8(ascii: ":"))
            header.append(contentsOf: entry.json)
        }
        header.append(UInt8(ascii: "}"))
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        return header
    }

    /// The file: the header's length (8 bytes, little-endian), the header, the payloads.
    private static func assemble(
        header: [UInt8], tensors: [NamedTensor], order: [Int], offsets: [(begin: Int, end: Int)], dataSize: Int
    ) -> [UInt8] {
        let dataStart = 8 + header.count
        let total = dataStart + dataSize
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            let base = UnsafeMutableRawPointer(buffer.baseAddress!)  // total >= 8 + 8
            var length = UInt64(header.count)
            for k in 0..<8 {
                base.storeBytes(of: UInt8(truncatingIfNeeded: length), toByteOffset: k, as: UInt8.self)
                length >>= 8
            }
            header.withUnsafeBytes { src in
                (base + 8).copyMemory(from: src.baseAddress!, byteCount: src.count)
            }
            for i in order {
                let dst = base + dataStart + offsets[i].begin
                tensors[i].values.withUnsafeBytes { src in
                    guard src.count > 0, let srcBase = src.baseAddress else { return }
                    #if _endian(little)
                        dst.copyMemory(from: srcBase, byteCount: src.count)
                    #else
                        let floats = src.bindMemory(to: Float.self)
                        for (k, v) in floats.enumerated() {
                            dst.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * k, as: UInt32.self)
                        }
                    #endif
                }
            }
            initialized = total
        }
    }
}

// MARK: - Decoding

extension SafeTensors {
    private struct Entry {
        var name: String
        var shape: [Int]
        var count: Int
        var begin: Int
        var end: Int
    }

    static func decode(raw bytes: UnsafeRawBufferPointer, file: String) throws
        -> (tensors: [NamedTensor], metadata: [String: String])
    {
        let (members, dataStart) = try readHeader(bytes, file: file)
        let dataSize = bytes.count - dataStart
        let (entries, metadata) = try parseEntries(members, dataSize: dataSize, file: file)
        try checkCoverage(entries, dataSize: dataSize, file: file)
        // Copy payloads (all ranges are verified to lie inside `bytes`).
        let payload = bytes.baseAddress.map { $0 + dataStart }
        let tensors = entries.sorted(by: { utf8Less($0.name, $1.name) }).map { e in
            let values = [Float](unsafeUninitializedCapacity: e.count) { buffer, initialized in
                if e.count > 0, let dst = buffer.baseAddress, let src = payload {
                    #if _endian(little)
                        UnsafeMutableRawPointer(dst).copyMemory(from: src + e.begin, byteCount: 4 * e.count)
                    #else
                        for k in 0..<e.count {
                            let bits = src.loadUnaligned(fromByteOffset: e.begin + 4 * k, as: UInt32.self)
                            dst[k] = Float(bitPattern: UInt32(littleEndian: bits))
                        }
                    #endif
                }
                initialized = e.count
            }
            return NamedTensor(name: e.name, shape: e.shape, values: values)
        }
        return (tensors, metadata)
    }

    /// The header's members (a JSON object, parsed strictly) and where the data section starts.
    private static func readHeader(_ bytes: UnsafeRawBufferPointer, file: String) throws
        -> (members: [(String, JSONValue)], dataStart: Int)
    {
        guard bytes.count >= 8 else {
            throw SafeTensorsError.fileTooShort(file: file, size: bytes.count)
        }
        var length: UInt64 = 0
        for k in (0..<8).reversed() { length = (length << 8) | UInt64(bytes[k]) }
        let available = bytes.count - 8
        guard length <= UInt64(maxHeaderLength), length <= UInt64(available) else {
            throw SafeTensorsError.invalidHeaderLength(file: file, length: length, available: available)
        }
        let header = Array(bytes[8..<(8 + Int(length))])
        guard isValidUTF8(header) else {
            throw SafeTensorsError.invalidHeader(file: file, reason: "not valid UTF-8")
        }
        let root: JSONValue
        do {
            var parser = JSONParser(bytes: header)
            root = try parser.parseDocument()
        } catch let error as JSONParseError {
            throw SafeTensorsError.invalidHeader(
                file: file, reason: "not valid JSON (\(error.message) at byte \(error.offset))")
        }
        guard case .object(let members) = root else {
            throw SafeTensorsError.invalidHeader(
                file: file, reason: "expected a JSON object at the top level, found \(root.typeName)")
        }
        return (members, 8 + Int(length))
    }

    /// The tensor entries and the metadata; names must be unique.
    private static func parseEntries(_ members: [(String, JSONValue)], dataSize: Int, file: String) throws
        -> (entries: [Entry], metadata: [String: String])
    {
        var metadata: [String: String] = [:]
        var seen = Set<[UInt8]>()
        var entries: [Entry] = []
        entries.reserveCapacity(members.count)
        for (name, value) in members {
            if !seen.insert(Array(name.utf8)).inserted {
                if name == metadataKey {
                    throw SafeTensorsError.invalidMetadata(file: file, reason: "\"__metadata__\" occurs twice")
                }
                throw SafeTensorsError.duplicateName(file: file, name: name)
            }
            if name == metadataKey {
                metadata = try parseMetadata(value, file: file)
                continue
            }
            entries.append(try parseEntry(name: name, value: value, dataSize: dataSize, file: file))
        }
        return (entries, metadata)
    }

    /// The data section must be covered exactly, without overlaps or gaps.
    private static func checkCoverage(_ entries: [Entry], dataSize: Int, file: String) throws {
        let byPosition = entries.sorted { x, y in
            if x.begin != y.begin { return x.begin < y.begin }
            if x.end != y.end { return x.end < y.end }
            return utf8Less(x.name, y.name)
        }
        var cursor = 0
        var previous: String? = nil
        for e in byPosition {
            if e.begin < cursor {
                throw SafeTensorsError.overlappingTensors(file: file, tensor: e.name, other: previous ?? "")
            }
            if e.begin > cursor {
                throw SafeTensorsError.uncoveredData(file: file, begin: cursor, end: e.begin)
            }
            if e.end > e.begin || previous == nil { previous = e.name }
            cursor = e.end
        }
        if cursor != dataSize {
            throw SafeTensorsError.uncoveredData(file: file, begin: cursor, end: dataSize)
        }
    }

    private static func parseMetadata(_ value: JSONValue, file: String) throws -> [String: String] {
        switch value {
        case .null:
            return [:]
        case .object(let members):
            var result: [String: String] = [:]
            var seen = Set<[UInt8]>()
            for (key, v) in members {
                guard seen.insert(Array(key.utf8)).inserted else {
                    throw SafeTensorsError.invalidMetadata(file: file, reason: "duplicate key \(stQuote(key))")
                }
                guard case .string(let s) = v else {
                    throw SafeTensorsError.invalidMetadata(
                        file: file, reason: "value of key \(stQuote(key)) is \(v.typeName), expected a string")
                }
                result[key] = s
            }
            return result
        default:
            throw SafeTensorsError.invalidMetadata(
                file: file, reason: "expected an object of strings, found \(value.typeName)")
        }
    }

    private static func parseEntry(name: String, value: JSONValue, dataSize: Int, file: String) throws -> Entry {
        guard case .object(let members) = value else {
            throw SafeTensorsError.invalidEntry(
                file: file, tensor: name, reason: "entry is \(value.typeName), expected an object")
        }
        var fields: [String: JSONValue] = [:]
        for (key, v) in members {
            if key == "dtype" || key == "shape" || key == "data_offsets" {
                if fields[key] != nil {
                    throw SafeTensorsError.invalidEntry(file: file, tensor: name, reason: "duplicate field \"\(key)\"")
                }
                fields[key] = v
            }  // unknown fields are ignored, like the reference implementation
        }
        func field(_ key: String) throws -> JSONValue {
            guard let v = fields[key] else {
                throw SafeTensorsError.invalidEntry(file: file, tensor: name, reason: "missing field \"\(key)\"")
            }
            return v
        }

        // dtype
        let dtypeValue = try field("dtype")
        guard case .string(let dtype) = dtypeValue else {
            throw SafeTensorsError.invalidEntry(
                file: file, tensor: name, reason: "field \"dtype\" is \(dtypeValue.typeName), expected a string")
        }

        let shape = try parseShape(try field("shape"), tensor: name, file: file)
        let count: Int
        switch elementCount(shape) {
        case .success(let c): count = c
        case .failure(let reason):
            throw SafeTensorsError.invalidShape(file: file, tensor: name, reason: reason.description)
        }

        // The dtype is checked after the shape is known to be well-formed, so that a
        // structurally broken entry is reported as such first.
        guard dtype == "F32" else {
            throw SafeTensorsError.unsupportedDType(file: file, tensor: name, dtype: dtype)
        }

        let bounds = try parseOffsets(try field("data_offsets"), tensor: name, file: file)
        let (begin, end) = (bounds[0], bounds[1])
        guard begin <= end else {
            throw SafeTensorsError.invalidOffsets(
                file: file, tensor: name, reason: "begin \(begin) is greater than end \(end)")
        }
        guard end <= dataSize else {
            throw SafeTensorsError.offsetsOutOfBounds(file: file, tensor: name, end: end, dataSize: dataSize)
        }
        guard end - begin == 4 * count else {
            throw SafeTensorsError.sizeMismatch(
                file: file, tensor: name, expectedBytes: 4 * count, actualBytes: end - begin)
        }
        return Entry(name: name, shape: shape, count: count, begin: begin, end: end)
    }

    /// A shape: non-negative integers.
    private static func parseShape(_ value: JSONValue, tensor name: String, file: String) throws -> [Int] {
        guard case .array(let dims) = value else {
            throw SafeTensorsError.invalidEntry(
                file: file, tensor: name, reason: "field \"shape\" is \(value.typeName), expected an array")
        }
        return try dims.enumerated().map { d, dim in
            guard case .number(let text, let isInteger) = dim else {
                throw SafeTensorsError.invalidShape(
                    file: file, tensor: name, reason: "dimension \(d) is \(dim.typeName), expected an integer")
            }
            guard isInteger else {
                throw SafeTensorsError.invalidShape(
                    file: file, tensor: name, reason: "dimension \(d) is \(text), not an integer")
            }
            guard let n = Int(text) else {
                throw SafeTensorsError.invalidShape(
                    file: file, tensor: name, reason: "dimension \(d) is \(text), which is out of range")
            }
            guard n >= 0 else {
                throw SafeTensorsError.invalidShape(
                    file: file, tensor: name, reason: "dimension \(d) is \(n), which is negative")
            }
            return n
        }
    }

    /// `data_offsets`: two non-negative integers, begin and end.
    private static func parseOffsets(_ value: JSONValue, tensor name: String, file: String) throws -> [Int] {
        guard case .array(let offs) = value else {
            throw SafeTensorsError.invalidOffsets(
                file: file, tensor: name, reason: "expected an array of two integers, found \(value.typeName)")
        }
        guard offs.count == 2 else {
            throw SafeTensorsError.invalidOffsets(
                file: file, tensor: name, reason: "expected two integers, found \(offs.count) elements")
        }
        return try offs.enumerated().map { k, o in
            let which = k == 0 ? "begin" : "end"
            guard case .number(let text, let isInteger) = o else {
                throw SafeTensorsError.invalidOffsets(
                    file: file, tensor: name, reason: "\(which) is \(o.typeName), expected an integer")
            }
            guard isInteger else {
                throw SafeTensorsError.invalidOffsets(
                    file: file, tensor: name, reason: "\(which) is \(text), not an integer")
            }
            guard let n = Int(text), n >= 0 else {
                throw SafeTensorsError.invalidOffsets(
                    file: file, tensor: name, reason: "\(which) is \(text), expected a non-negative integer")
            }
            return n
        }
    }
}

// MARK: - Helpers

extension SafeTensors {
    /// Product of `shape`, failing on negative dims or if product * 4 overflows Int.
    static func elementCount(_ shape: [Int]) -> Result<Int, ShapeFailure> {
        var count = 1
        for (d, dim) in shape.enumerated() {
            if dim < 0 { return .failure(ShapeFailure("dimension \(d) is \(dim), which is negative")) }
            let (p, overflow) = count.multipliedReportingOverflow(by: dim)
            if overflow { return .failure(ShapeFailure("element count of shape \(shape) overflows")) }
            count = p
        }
        if count.multipliedReportingOverflow(by: 4).overflow {
            return .failure(ShapeFailure("byte size of shape \(shape) overflows"))
        }
        return .success(count)
    }

    struct ShapeFailure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// Orders strings by their UTF-8 bytes (locale- and normalization-independent).
    static func utf8Less(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    static func appendJSONString(_ s: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Quotes a user-supplied string with Swift escapes so messages stay on one line.
private func stQuote(_ s: String, onlyIfNeeded: Bool = false) -> String {
    if onlyIfNeeded, !s.isEmpty,
        !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == ":" || $0 == " " })
    {
        return s
    }
    return String(reflecting: s)
}

private func stOneLine(_ s: String) -> String {
    s.contains(where: \.isNewline)
        ? String(s.map { $0.isNewline ? " " : $0 }) : s
}
