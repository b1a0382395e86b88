import CZlib
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a whole file into memory, with one-line errors naming the path.
///
/// - Parameter missingHint: appended to the "file not found" message (how to obtain the file).
func readFileBytes(path: String, missingHint: String = "check the path") throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DatasetError.fileNotFound(path: path, hint: missingHint)
    }
    if isDirectory.boolValue {
        throw DatasetError.readFailed(path: path, reason: "is a directory")
    }
    guard let file = fopen(path, "rb") else {
        throw DatasetError.readFailed(path: path, reason: String(cString: strerror(errno)))
    }
    defer { fclose(file) }

    var bytes: [UInt8] = []
    var size = 0
    // Size hint from the file length; the loop below copes with files that change size.
    if fseeko(file, 0, SEEK_END) == 0 {
        let end = ftello(file)
        if end > 0 { bytes = [UInt8](repeating: 0, count: Int(end)) }
        rewind(file)
    }
    if bytes.isEmpty { bytes = [UInt8](repeating: 0, count: 1 << 16) }
    while true {
        if size == bytes.count {
            bytes.append(contentsOf: repeatElement(0, count: max(bytes.count, 1 << 16)))
        }
        let got = bytes.withUnsafeMutableBufferPointer { buffer -> Int in
            guard let base = buffer.baseAddress else { return 0 }
            return fread(base + size, 1, buffer.count - size, file)
        }
        size += got
        if got == 0 {
            if ferror(file) != 0 {
                throw DatasetError.readFailed(path: path, reason: String(cString: strerror(errno)))
            }
            break
        }
    }
    bytes.removeLast(bytes.count - size)
    return bytes
}

/// Returns true when `bytes` begins with the gzip magic number 0x1f 0x8b.
public func isGzip(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// Reads a file and transparently decompresses it when it is gzipped; plain files pass through.
public func readMaybeGzipped(path: String, missingHint: String = "check the path") throws -> [UInt8] {
    let raw = try readFileBytes(path: path, missingHint: missingHint)
    return try gunzipIfNeeded(raw, path: path)
}

/// Decompresses `bytes` if they start with the gzip magic, otherwise returns them unchanged.
///
/// Concatenated gzip members are supported; truncated streams, corrupt deflate data,
/// CRC/length mismatches and trailing garbage are reported as `DatasetError`s naming `path`.
public func gunzipIfNeeded(_ bytes: [UInt8], path: String) throws -> [UInt8] {
    guard isGzip(bytes) else { return bytes }
    return try inflateGzip(bytes, path: path)
}

/// Inflates a complete in-memory gzip stream (one or more members) with zlib.
func inflateGzip(_ input: [UInt8], path: String) throws -> [UInt8] {
    var output = [UInt8](repeating: 0, count: initialInflateCapacity(input))
    var produced = 0

    try input.withUnsafeBufferPointer { inBuffer in
        guard let inBase = inBuffer.baseAddress else { throw DatasetError.truncatedGzip(path: path) }
        var stream = z_stream()
        // 15 + 32: maximum window, automatic gzip/zlib header detection.
        let initCode = inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard initCode == Z_OK else {
            throw DatasetError.corruptGzip(path: path, reason: "zlib inflateInit2 failed (code \(initCode))")
        }
        defer { inflateEnd(&stream) }

        var consumed = 0
        /// Feeds the next chunk of input (avail_in is 32-bit) once the previous one is used up.
        func refill() {
            if stream.avail_in == 0 && consumed < inBuffer.count {
                let chunk = min(inBuffer.count - consumed, Int(UInt32.max))
                stream.next_in = UnsafeMutablePointer(mutating: inBase + consumed)
                stream.avail_in = UInt32(chunk)
                consumed += chunk
            }
        }

        while true {
            refill()
            if produced == output.count {
                output.append(contentsOf: repeatElement(0, count: output.count))
            }
            let code = output.withUnsafeMutableBufferPointer { outBuffer -> Int32 in
                guard let outBase = outBuffer.baseAddress else { return Z_MEM_ERROR }
                let room = min(outBuffer.count - produced, Int(UInt32.max))
                stream.next_out = outBase + produced
                stream.avail_out = UInt32(room)
                let result = inflate(&stream, Z_NO_FLUSH)
                produced += room - Int(stream.avail_out)
                return result
            }
            switch code {
            case Z_OK:
                continue
            case Z_STREAM_END:
                let unread = inBuffer.count - consumed + Int(stream.avail_in)
                if unread == 0 { return }
                let next = inBuffer.count - unread
                // Another gzip member follows: keep inflating; anything else is garbage.
                if unread >= 2 && inBuffer[next] == 0x1f && inBuffer[next + 1] == 0x8b {
                    inflateReset(&stream)
                    continue
                }
                throw DatasetError.corruptGzip(
                    path: path, reason: "\(unread) bytes of trailing garbage after the gzip data")
            case Z_BUF_ERROR:
                // Output room was available, so no progress means the input ran out.
                throw DatasetError.truncatedGzip(path: path)
            case Z_NEED_DICT:
                throw DatasetError.corruptGzip(path: path, reason: "stream requires a preset dictionary")
            case Z_MEM_ERROR:
                throw DatasetError.readFailed(path: path, reason: "out of memory while decompressing")
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(code)"
                throw DatasetError.corruptGzip(path: path, reason: message)
            }
        }
    }
    output.removeLast(output.count - produced)
    return output
}

/// Picks a starting output size from the gzip ISIZE trailer, bounded by deflate's maximum ratio.
private func initialInflateCapacity(_ input: [UInt8]) -> Int {
    let maximum = input.count * 1032 + 1024
    guard input.count >= 18 else { return 1024 }
    let n = input.count
    let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
    return max(1024, min(isize, maximum))
}

/// Compresses `bytes` into a single gzip member with zlib (used by tests and tools).
public func gzipCompress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
    var stream = z_stream()
    // 15 + 16: maximum window, gzip wrapper.
    let initCode = deflateInit2_(
        &stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
        zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard initCode == Z_OK else {
        throw DatasetError.corruptGzip(path: "<memory>", reason: "zlib deflateInit2 failed (code \(initCode))")
    }
    defer { deflateEnd(&stream) }
    guard bytes.count < Int(UInt32.max) else {
        throw DatasetError.readFailed(path: "<memory>", reason: "input too large to gzip in one call")
    }
    let bound = Int(deflateBound(&stream, uLong(bytes.count))) + 64
    var output = [UInt8](repeating: 0, count: bound)
    let input = bytes.isEmpty ? [UInt8](repeating: 0, count: 1) : bytes
    let code = input.withUnsafeBufferPointer { inBuffer -> Int32 in
        output.withUnsafeMutableBufferPointer { outBuffer -> Int32 in
            guard let inBase = inBuffer.baseAddress, let outBase = outBuffer.baseAddress else {
                return Z_MEM_ERROR
            }
            stream.next_in = UnsafeMutablePointer(mutating: inBase)
            stream.avail_in = UInt32(bytes.count)
            stream.next_out = outBase
            stream.avail_out = UInt32(outBuffer.count)
            return deflate(&stream, Z_FINISH)
        }
    }
    guard code == Z_STREAM_END else {
        throw DatasetError.corruptGzip(path: "<memory>", reason: "zlib deflate failed (code \(code))")
    }
    output.removeLast(output.count - Int(stream.total_out))
    return output
}
