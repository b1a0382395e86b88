/// Magic numbers of the IDX formats this module reads.
public enum IDXMagic {
    /// Unsigned bytes, one dimension (labels).
    public static let labels: UInt32 = 0x0000_0801
    /// Unsigned bytes, three dimensions (images: count x rows x cols).
    public static let images: UInt32 = 0x0000_0803
    /// Both accepted magics.
    public static let all: [UInt32] = [labels, images]
}

/// A parsed IDX file of unsigned bytes: its magic, dimensions and raw payload.
public struct IDXArray: Sendable, Equatable {
    /// The magic number (0x00000801 or 0x00000803).
    public let magic: UInt32
    /// The dimensions from the header, outermost first (e.g. [count, rows, cols]).
    public let dimensions: [Int]
    /// The payload bytes in row-major order; indices start at `payload.startIndex` (the header size).
    public let payload: ArraySlice<UInt8>

    /// The outermost dimension: number of items (labels or images).
    public var count: Int { dimensions.first ?? 0 }
    /// Number of bytes per item (product of the inner dimensions; 1 for labels).
    public var itemSize: Int { dimensions.dropFirst().reduce(1, *) }

    /// The payload bytes of the first `limit` items (all items when nil) as a fresh array.
    public func bytes(limit: Int? = nil) -> [UInt8] {
        let items = min(limit ?? count, count)
        let start = payload.startIndex
        return Array(payload[start..<(start + items * itemSize)])
    }

    /// The first `limit` items (all when nil) as floats scaled to [0, 1] (x / 255), row-major.
    public func scaledFloats(limit: Int? = nil) -> [Float] {
        let total = min(limit ?? count, count) * itemSize
        return payload.withUnsafeBufferPointer { source in
            [Float](unsafeUninitializedCapacity: total) { destination, initialized in
                guard let src = source.baseAddress, let dst = destination.baseAddress else {
                    initialized = 0
                    return
                }
                // Table lookup: exact x / 255 (so 255 maps to exactly 1.0) without a per-pixel divide.
                byteToUnitFloat.withUnsafeBufferPointer { table in
                    for i in 0..<total {
                        (dst + i).initialize(to: table[Int(src[i])])
                    }
                }
                initialized = total
            }
        }
    }
}

/// Byte value -> value / 255 as Float, for all 256 byte values.
private let byteToUnitFloat: [Float] = (0...255).map { Float($0) / 255 }

/// Reads an IDX file (gzipped or plain) of unsigned bytes with magic 0x801 or 0x803.
///
/// The payload must be exactly the size implied by the header: short files and trailing
/// bytes are both errors.
public func readIDX(path: String) throws -> IDXArray {
    let bytes = try readMaybeGzipped(path: path)
    return try parseIDX(bytes, path: path, expectedMagic: IDXMagic.all)
}

/// Parses decompressed IDX bytes, accepting only the magics in `expectedMagic`.
public func parseIDX(_ bytes: [UInt8], path: String, expectedMagic: [UInt32]) throws -> IDXArray {
    guard bytes.count >= 4 else {
        throw DatasetError.headerTooShort(path: path, size: bytes.count, needed: 4)
    }
    let magic = readBigEndianUInt32(bytes, at: 0)
    guard expectedMagic.contains(magic) else {
        throw DatasetError.wrongMagic(path: path, found: magic, expected: expectedMagic)
    }
    let rank = Int(magic & 0xFF)
    let headerSize = 4 + 4 * rank
    guard bytes.count >= headerSize else {
        throw DatasetError.headerTooShort(path: path, size: bytes.count, needed: headerSize)
    }
    let dimensions = (0..<rank).map { Int(readBigEndianUInt32(bytes, at: 4 + 4 * $0)) }
    var expected = 1
    for dimension in dimensions {
        let (product, overflow) = expected.multipliedReportingOverflow(by: dimension)
        guard !overflow else { throw DatasetError.invalidDimensions(path: path, dimensions: dimensions) }
        expected = product
    }
    // The item size (product of the inner dimensions) must fit too: with a zero count the total
    // above is 0 whatever the other dimensions are, and `itemSize` would overflow.
    var itemSize = 1
    for dimension in dimensions.dropFirst() {
        let (product, overflow) = itemSize.multipliedReportingOverflow(by: dimension)
        guard !overflow else { throw DatasetError.invalidDimensions(path: path, dimensions: dimensions) }
        itemSize = product
    }
    let actual = bytes.count - headerSize
    guard actual == expected else {
        throw DatasetError.payloadSizeMismatch(path: path, expected: expected, actual: actual)
    }
    return IDXArray(magic: magic, dimensions: dimensions, payload: bytes[headerSize...])
}

/// Reads a big-endian UInt32 at `offset` (caller guarantees 4 bytes are available).
@inline(__always)
private func readBigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
        | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}
