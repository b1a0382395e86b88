import Foundation
import NeuralNet
import Support

#if canImport(Glibc)
    import Glibc
#endif

/// Where and with what a run was made.
public struct Provenance: Codable, Sendable {
    public var vaelabVersion: String
    public var gitCommit: String
    public var gitDirty: Bool
    public var swiftVersion: String
    public var blasCore: String
    public var blasThreads: Int
    public var cpuModel: String
    public var hostCores: Int

    enum CodingKeys: String, CodingKey {
        case vaelabVersion = "vaelab_version"
        case gitCommit = "git_commit"
        case gitDirty = "git_dirty"
        case swiftVersion = "swift_version"
        case blasCore = "blas_core"
        case blasThreads = "blas_threads"
        case cpuModel = "cpu_model"
        case hostCores = "host_cores"
    }

    public static let version = "0.1.0"

    /// Collects provenance for the current process (git is asked about the current directory);
    /// `threads` is the run's (`blas_threads`: each GEMM runs on one BLAS thread, see `ExecutionPolicy`).
    public static func current(threads: Int) -> Provenance {
        let commit = Git.output(["rev-parse", "HEAD"]) ?? "unknown"
        let status = Git.output(["status", "--porcelain", "--untracked-files=no"])
        return Provenance(
            vaelabVersion: version, gitCommit: commit, gitDirty: !(status ?? "").isEmpty,
            swiftVersion: swiftVersion, blasCore: BLAS.coreName, blasThreads: threads,
            cpuModel: cpuModel, hostCores: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// The compiler that built this binary.
    public static var swiftVersion: String {
        #if compiler(>=6.4)
            return "6.4+"
        #elseif compiler(>=6.3)
            return "6.3"
        #elseif compiler(>=6.2)
            return "6.2"
        #else
            return "<6.2"
        #endif
    }

    public static var cpuModel: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown"
    }

    /// Peak resident set size of this process in MB.
    public static var peakResidentMB: Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}
