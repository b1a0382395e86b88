/// Errors raised while locating, decompressing, verifying or parsing dataset files.
///
/// Every case names the offending file and renders as exactly one line of text.
public enum DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file does not exist; `hint` says how to obtain it.
    case fileNotFound(path: String, hint: String)
    /// The file exists but could not be read (permissions, a directory, I/O error).
    case readFailed(path: String, reason: String)
    /// The gzip stream ends before its end-of-stream marker and trailer.
    case truncatedGzip(path: String)
    /// The gzip stream is malformed (bad deflate data, CRC or length mismatch, trailing garbage).
    case corruptGzip(path: String, reason: String)
    /// The SHA-256 of the decompressed content differs from the pinned value.
    case checksumMismatch(path: String, expected: String, actual: String)
    /// The IDX magic number is not one of the accepted ones.
    case wrongMagic(path: String, found: UInt32, expected: [UInt32])
    /// The file is shorter than its IDX header.
    case headerTooShort(path: String, size: Int, needed: Int)
    /// The header's dimensions are invalid (zero-sized product overflow etc.).
    case invalidDimensions(path: String, dimensions: [Int])
    /// The payload length differs from the product of the header's dimensions.
    case payloadSizeMismatch(path: String, expected: Int, actual: Int)
    /// The images and labels files of a split hold different numbers of items.
    case countMismatch(imagesPath: String, images: Int, labelsPath: String, labels: Int)
    /// The images are not of the size this dataset requires.
    case imageSizeMismatch(path: String, rows: Int, cols: Int, expectedRows: Int, expectedCols: Int)
    /// A label lies outside the dataset's class range.
    case labelOutOfRange(path: String, index: Int, value: UInt8, maximum: UInt8)
    /// A train/test limit is below 1 or larger than the split.
    case invalidLimit(path: String, split: String, requested: Int, available: Int)

    /// One-line human-readable message naming the file and the problem.
    public var description: String {
        switch self {
        case .fileNotFound(let path, let hint):
            return "\(path): file not found; \(hint)"
        case .readFailed(let path, let reason):
            return "\(path): cannot read file: \(reason)"
        case .truncatedGzip(let path):
            return "\(path): truncated gzip stream (unexpected end of compressed data)"
        case .corruptGzip(let path, let reason):
            return "\(path): corrupt gzip stream: \(reason)"
        case .checksumMismatch(let path, let expected, let actual):
            return "\(path): SHA-256 checksum mismatch of decompressed content: "
                + "expected \(Self.abbreviate(expected)), got \(Self.abbreviate(actual))"
        case .wrongMagic(let path, let found, let expected):
            let list = expected.map(Self.hex).joined(separator: " or ")
            return "\(path): wrong IDX magic number \(Self.hex(found)), expected \(list)"
        case .headerTooShort(let path, let size, let needed):
            return "\(path): IDX header truncated: file has \(size) bytes, header needs \(needed)"
        case .invalidDimensions(let path, let dimensions):
            let dims = dimensions.map(String.init).joined(separator: " x ")
            return "\(path): invalid IDX dimensions \(dims)"
        case .payloadSizeMismatch(let path, let expected, let actual):
            let what = actual < expected ? "truncated" : "trailing bytes"
            return "\(path): IDX payload size mismatch (\(what)): header implies \(expected) bytes, "
                + "file has \(actual)"
        case .countMismatch(let imagesPath, let images, let labelsPath, let labels):
            return "\(imagesPath): holds \(images) images but \(labelsPath) holds \(labels) labels"
        case .imageSizeMismatch(let path, let rows, let cols, let expectedRows, let expectedCols):
            return "\(path): images are \(rows)x\(cols), expected \(expectedRows)x\(expectedCols)"
        case .labelOutOfRange(let path, let index, let value, let maximum):
            return "\(path): label \(value) at index \(index) is outside 0...\(maximum)"
        case .invalidLimit(let path, let split, let requested, let available):
            return "\(path): invalid \(split) limit \(requested): must be between 1 and \(available) "
                + "(the number of \(split) images)"
        }
    }

    /// Formats a magic number as `0x%08X`.
    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// Shortens a hex digest to its first 16 characters for messages.
    static func abbreviate(_ digest: String) -> String {
        digest.count > 16 ? String(digest.prefix(16)) + "…" : digest
    }
}
