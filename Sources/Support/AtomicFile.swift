import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A failed write; one line naming the file.
public struct WriteError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }
}

/// Whole-file writes that never leave a partial file under the final name: the bytes go to a
/// uniquely named temporary file in the same directory, are fsynced, and are renamed over the
/// target; the directory entry is then synced (best effort). On any failure the temporary file
/// is removed and the old file, if any, is untouched.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty else { throw WriteError(path: path, reason: "path names a directory, not a file") }
        let temp = "\(directory).\(base).tmp-\(getpid())-\(UUID().uuidString.prefix(8))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError(path: path, reason: "cannot create a temporary file: \(errnoString())") }
        var committed = false
        defer { if !committed { unlink(temp) } }

        let writeError: String? = bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errnoString()
                }
                done += n
            }
            return nil
        }
        if let writeError {
            close(fd)
            throw WriteError(path: path, reason: "cannot write: \(writeError)")
        }
        if fsync(fd) != 0 {
            let message = errnoString()
            close(fd)
            throw WriteError(path: path, reason: "cannot sync: \(message)")
        }
        if close(fd) != 0 { throw WriteError(path: path, reason: "cannot close: \(errnoString())") }
        FaultInjection.reached("write:" + base)
        if rename(temp, path) != 0 {
            throw WriteError(path: path, reason: "cannot rename into place: \(errnoString())")
        }
        committed = true
        let dirfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }

    /// Removes the temporary files that writes interrupted by a crash left in `directory`
    /// (`.<name>.tmp-<pid>-<id>`). Call only while holding the lock that guards the directory's
    /// writers. Returns how many were removed.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return 0 }
        var removed = 0
        for name in names where name.hasPrefix(".") && name.contains(".tmp-") {
            if unlink(directory + "/" + name) == 0 { removed += 1 }
        }
        return removed
    }

    public static func write(_ data: Data, to path: String) throws { try write([UInt8](data), to: path) }
    public static func write(_ string: String, to path: String) throws { try write(Array(string.utf8), to: path) }

    /// Creates a directory and its parents; a clear error if that is impossible.
    /// `mkdir -p`: creates the directory and any missing parents; errors name the system's reason.
    public static func makeDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return }
            throw WriteError(path: path, reason: "cannot create directory: a file of that name exists")
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectory(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw WriteError(path: path, reason: "cannot create directory: \(errnoString())")
        }
    }

    private static func errnoString() -> String { String(cString: strerror(errno)) }
}
