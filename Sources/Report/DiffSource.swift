import Experiments
import Foundation
import Support

/// Where a diff's two summaries come from: a git revision (`git show REV:<path>`, nothing
/// checked out) or the working tree.
extension SummaryDiff {
    /// Reads `<results>/summary.json` at `revision` (a commit-ish, or `WORKTREE` for the file on
    /// disk). `results` is resolved against the current directory; for a commit the file is read
    /// with `git show REV:<path>` in the repository that contains the results directory, whose
    /// path relative to the repository root is worked out first. Nothing is checked out.
    public static func load(revision: String, results: String) throws -> Summary {
        let location = summaryLocation(results)
        if revision == worktree {
            guard let data = FileManager.default.contents(atPath: location.path) else {
                let why = FileManager.default.fileExists(atPath: location.path) ? "cannot be read" : "does not exist"
                throw DiffError(
                    .missingWorkingTreeFile, revision: revision, path: location.display,
                    message: "working tree: \(location.display) \(why)")
            }
            return try decode(data, revision: revision, path: location.display)
        }
        let repo = try repository(containing: location)
        try verify(revision: revision, in: repo.root)
        let spec = "\(revision):\(repo.relativePath)"
        let type = try git(["cat-file", "-t", spec], in: repo.root)
        guard type.status == 0, type.output == "blob" else {
            throw DiffError(
                .missingSummary, revision: revision, path: repo.relativePath,
                message: "revision '\(revision)' has no \(repo.relativePath)")
        }
        let shown = try git(["show", spec], in: repo.root)
        guard shown.status == 0 else {
            throw DiffError(
                .gitFailed, revision: revision, path: repo.relativePath,
                message: "git show \(spec) failed: \(shown.errorLine)")
        }
        return try decode(shown.stdout, revision: revision, path: repo.relativePath)
    }

    /// The abbreviated commit hash of `revision` (nil for `WORKTREE` or when git cannot tell).
    public static func shortCommit(revision: String, results: String) -> String? {
        guard revision != worktree, !revision.hasPrefix("-"),
            let repo = try? repository(containing: summaryLocation(results)),
            let r = try? git(["rev-parse", "--short", "--verify", "--quiet", "\(revision)^{commit}"], in: repo.root),
            r.status == 0, !r.output.isEmpty
        else { return nil }
        return r.output
    }

    /// Parses and decodes one summary file; errors name `revision` and `path`.
    public static func decode(_ data: Data, revision: String, path: String) throws -> Summary {
        let source = revision == worktree ? "working tree: \(path)" : "\(revision):\(path)"
        func fail(_ kind: DiffError.Kind, _ message: String) -> DiffError {
            DiffError(kind, revision: revision, path: path, message: "\(source): \(message)")
        }
        let bytes = [UInt8](data)
        guard String(data: data, encoding: .utf8) != nil else {
            throw fail(.invalidJSON, "not valid UTF-8, so not JSON")
        }
        let document: JSONValue
        do {
            var parser = JSONParser(bytes: bytes)
            document = try parser.parseDocument()
        } catch let error as JSONParseError {
            var line = 1
            var column = 1
            for b in bytes.prefix(error.offset) {
                if b == 0x0A {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            }
            throw fail(.invalidJSON, "invalid JSON at line \(line), column \(column): \(error.message)")
        }
        guard case .object(let members) = document else {
            throw fail(.invalidSummary, "expected a JSON object, got \(document.typeName)")
        }
        let found: String
        switch members.first(where: { $0.0 == "format" })?.1 {
        case .string(let s)?: found = "\"\(s)\""
        case let other?: found = other.typeName
        case nil: found = "no format field"
        }
        guard found == "\"\(Summary.currentFormat)\"" else {
            throw fail(.unsupportedFormat, "format is \(found), expected \"\(Summary.currentFormat)\"")
        }
        do {
            return try JSONDecoder().decode(Summary.self, from: data)
        } catch let error as DecodingError {
            throw fail(.invalidSummary, "not a summary: \(describe(error))")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var s = ""
            for k in keys {
                if let i = k.intValue { s += "[\(i)]" } else { s += s.isEmpty ? k.stringValue : ".\(k.stringValue)" }
            }
            return s.isEmpty ? "top level" : s
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])): missing"
        case .typeMismatch(let type, let context): return "\(path(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context.codingPath)): expected \(type), got null"
        case .dataCorrupted(let context): return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// The summary file on disk: absolute path, and the path as given for messages.
    struct Location {
        var directory: URL
        var path: String { directory.appendingPathComponent("summary.json").path }
        var display: String
    }

    static func summaryLocation(_ results: String) -> Location {
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
        let dir = URL(fileURLWithPath: results, isDirectory: true, relativeTo: cwd).standardizedFileURL
        let given = results.hasSuffix("/") ? String(results.dropLast()) : results
        return Location(directory: dir, display: (given.isEmpty ? "." : given) + "/summary.json")
    }

    struct Repository {
        var root: String
        /// The summary's path relative to `root`, with `/` separators.
        var relativePath: String
    }

    /// The git work tree containing the results directory (or, when that does not exist on disk,
    /// its nearest existing ancestor) and the summary's path inside it.
    static func repository(containing location: Location) throws -> Repository {
        var existing = location.directory
        var missing: [String] = []
        var isDirectory: ObjCBool = false
        while !(FileManager.default.fileExists(atPath: existing.path, isDirectory: &isDirectory)
            && isDirectory.boolValue)
        {
            let parent = existing.deletingLastPathComponent()
            if parent.path == existing.path { break }
            missing.insert(existing.lastPathComponent, at: 0)
            existing = parent
        }
        let r = try git(["rev-parse", "--show-toplevel", "--show-prefix"], in: existing.path)
        let lines = String(decoding: r.stdout, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard r.status == 0, lines.count >= 2, !lines[0].isEmpty else {
            var message = "\(location.directory.path) is not inside a git repository"
            let why = r.errorLine
            if !why.isEmpty && !why.contains("not a git repository") { message += " (git: \(why))" }
            throw DiffError(.notARepository, path: location.display, message: message)
        }
        let prefix = String(lines[1])  // "" at the root, else "sub/dir/"
        let relative = prefix + (missing + ["summary.json"]).joined(separator: "/")
        return Repository(root: String(lines[0]), relativePath: relative)
    }

    private static func verify(revision: String, in root: String) throws {
        // A leading "-" would be read as an option.
        var known = !revision.isEmpty && !revision.hasPrefix("-")
        if known {
            known = try git(["rev-parse", "--verify", "--quiet", "\(revision)^{commit}"], in: root).status == 0
        }
        guard known else {
            throw DiffError(
                .unknownRevision, revision: revision,
                message:
                    "unknown revision '\(revision)' (not a commit in \(root); use \(worktree) for the working tree)")
        }
    }

    /// git in `directory`; a git that cannot run is `DiffError.gitUnavailable`.
    static func git(_ arguments: [String], in directory: String) throws -> Git.Result {
        do { return try Git.run(arguments, in: directory) } catch let e as Git.Unavailable {
            throw DiffError(.gitUnavailable, message: "cannot run git: \(e.reason)")
        }
    }
}
