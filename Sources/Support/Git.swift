import Dispatch
import Foundation

/// Runs git as a subprocess: `git ARGS` in a directory, with no terminal prompts, the C locale
/// and stdin closed; stdout and stderr are both collected (stderr on another thread, so that
/// neither pipe can fill up and block git).
public enum Git {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: Data
        /// stdout without surrounding whitespace.
        public var output: String {
            String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        /// The first line of stderr.
        public var errorLine: String {
            String(decoding: stderr, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        }
    }

    /// git could not be started; `reason` says why ("not found on PATH", or the system's words).
    public struct Unavailable: Error, Sendable {
        public let reason: String
    }

    private final class Collected: @unchecked Sendable {
        var data = Data()
    }

    /// `git arguments` in `directory` (nil: the current directory).
    public static func run(_ arguments: [String], in directory: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory, isDirectory: true) }
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_TERMINAL_PROMPT"] = "0"
        environment["LC_ALL"] = "C"
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { throw Unavailable(reason: error.localizedDescription) }
        let collected = Collected()
        let errHandle = err.fileHandleForReading
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { collected.data = errHandle.readDataToEndOfFile() }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        if process.terminationStatus == 127 { throw Unavailable(reason: "not found on PATH") }
        return Result(status: process.terminationStatus, stdout: output, stderr: collected.data)
    }

    /// The trimmed stdout of a successful `git arguments`, or nil (git missing, or it failed).
    public static func output(_ arguments: [String], in directory: String? = nil) -> String? {
        guard let r = try? run(arguments, in: directory), r.status == 0 else { return nil }
        return r.output
    }
}
