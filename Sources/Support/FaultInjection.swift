import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A test hook for crash-consistency tests: with `VAELAB_FAULT_KILL=<point>:<n>` in the
/// environment the process sends itself SIGKILL the n-th time it reaches `<point>`, so a test
/// can kill a real `vaelab` at an exact moment. Points: `batch` (each training batch),
/// `epoch` (after an epoch's checkpoint), `write:<file name>` (a file's bytes are written and
/// synced to its temporary file but not yet renamed into place, e.g. `write:checkpoint.safetensors`,
/// `write:summary.json`, `write:samples.png`). Unset (the normal case) it costs one branch.
public enum FaultInjection {
    public static let variable = "VAELAB_FAULT_KILL"

    private static let target: (point: String, count: Int)? = {
        guard let spec = ProcessInfo.processInfo.environment[variable], let colon = spec.lastIndex(of: ":"),
            let n = Int(spec[spec.index(after: colon)...]), n >= 1
        else { return nil }
        return (String(spec[..<colon]), n)
    }()
    private static let lock = NSLock()
    nonisolated(unsafe) private static var seen = 0

    /// Marks that execution reached `point`.
    @inline(__always)
    public static func reached(_ point: @autoclosure () -> String) {
        guard let target else { return }
        guard point() == target.point else { return }
        lock.lock()
        seen += 1
        let hit = seen == target.count
        lock.unlock()
        if hit { kill(getpid(), SIGKILL) }
    }
}
