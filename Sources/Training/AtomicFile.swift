import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Errors writing results; one line naming the file.
public struct WriteError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): cannot write: \(reason)" }
}

/// Whole-file writes that never leave a partial file under the final name: the bytes go to a
/// unique temporary file in the same directory, are flushed to disk, and are renamed over the target.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        var template = Array("\(dir.isEmpty ? "." : dir)/.\(base).XXXXXX.tmp".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemps($0.baseAddress!, 4) }
        guard fd >= 0 else { throw WriteError(path: path, reason: String(cString: strerror(errno))) }
        let tmp = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var ok = false
        defer { if !ok { unlink(tmp) } }
        let written = data.withUnsafeBytes { raw -> Int in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { return -1 }
                off += n
            }
            return off
        }
        let err = errno
        guard written == data.count, fsync(fd) == 0 else {
            close(fd)
            throw WriteError(path: path, reason: String(cString: strerror(written == data.count ? errno : err)))
        }
        fchmod(fd, 0o644)
        guard close(fd) == 0 else { throw WriteError(path: path, reason: String(cString: strerror(errno))) }
        guard rename(tmp, path) == 0 else { throw WriteError(path: path, reason: String(cString: strerror(errno))) }
        ok = true
    }

    public static func write(_ string: String, to path: String) throws {
        try write(Data(string.utf8), to: path)
    }

    /// Creates a directory and its parents; a clear error if that is impossible.
    public static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw WriteError(path: path, reason: "cannot create directory (\((error as NSError).localizedDescription))")
        }
    }
}
