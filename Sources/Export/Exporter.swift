import Foundation
import Report
import Support

#if canImport(Glibc)
    import Glibc
#endif

/// An export format and the entries of the export directory it owns.
public enum ExportFormat: String, CaseIterable, Sendable {
    case csv, jsonl, tensorboard, dvc

    /// Relative path -> bytes.
    typealias Files = [String: [UInt8]]

    /// Files, and directories (a trailing "/"), each replaced whole.
    var entries: [String] {
        switch self {
        case .csv: return ["curves.csv", "final.csv"]
        case .jsonl: return ["curves.jsonl", "final.jsonl"]
        case .tensorboard: return ["tensorboard/"]
        case .dvc: return ["dvc.yaml", "dvc/"]
        }
    }

    /// The format's files. `tables` are the long tables (curves, finals), built once for
    /// both of the formats that write them.
    func files(_ tree: ResultsTree, _ runs: [StudyRun], _ tables: () -> (LongTable, LongTable)) throws -> Files {
        switch self {
        case .csv:
            let (curves, finals) = tables()
            return ["curves.csv": try curves.csv(), "final.csv": try finals.csv()]
        case .jsonl:
            let (curves, finals) = tables()
            return ["curves.jsonl": curves.jsonLines(), "final.jsonl": finals.jsonLines()]
        case .tensorboard:
            var files: Files = [:]
            for r in runs where files["tensorboard/\(r.run.id)/\(TensorBoardRun.fileName)"] == nil {
                files["tensorboard/\(r.run.id)/\(TensorBoardRun.fileName)"] = try TensorBoardRun.file(r)
            }
            return files
        case .dvc: return try DVCExport.files(tree, runs)
        }
    }
}

public struct ExportOutcome: Sendable {
    public var files: Int
    public var runs: Int
}

/// `vaelab export`: the results tree in the formats other tools read, written from `results/`
/// alone (the same results give the same bytes). The new files are written in full into a
/// staging directory inside `out` first; only then does each entry a format owns (a file or a
/// whole directory, see `ExportFormat.entries`) replace its old self, by rename. Entries of
/// formats not asked for are left alone. `out` holds a `.vaelab-export` marker; an existing
/// directory without one is refused, so that an export never replaces a user's own files.
public enum Exporter {
    static let marker = ".vaelab-export"

    public static func export(results: String, out: String, formats: [ExportFormat]) throws -> ExportOutcome {
        let tree = try ResultsTree(root: results)
        let runs = tree.studyRuns
        var built: (LongTable, LongTable)?
        func tables() -> (LongTable, LongTable) {
            if built == nil { built = (LongTable.curves(runs), LongTable.finals(runs)) }
            return built!
        }
        var files: ExportFormat.Files = [:]
        for format in formats { files.merge(try format.files(tree, runs, tables)) { a, _ in a } }
        try claim(out)
        let staging = "\(out)/.staging-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let entries = formats.flatMap(\.entries)
        for directory in entries where directory.hasSuffix("/") {
            try AtomicFile.makeDirectory(staging + "/" + directory)
        }
        for (path, bytes) in files.sorted(by: { $0.key < $1.key }) {
            try AtomicFile.makeDirectory(("\(staging)/\(path)" as NSString).deletingLastPathComponent)
            try AtomicFile.write(bytes, to: "\(staging)/\(path)")
        }
        for entry in entries {
            let name = entry.hasSuffix("/") ? String(entry.dropLast()) : entry
            try replace("\(out)/\(name)", with: "\(staging)/\(name)", isDirectory: entry.hasSuffix("/"))
        }
        return ExportOutcome(files: files.count, runs: Set(runs.map(\.run.id)).count)
    }

    /// Creates `out` with its marker, or checks that an existing `out` has it (or is empty), and
    /// clears what crashed exports left there.
    static func claim(_ out: String) throws {
        let fm = FileManager.default
        if let names = try? fm.contentsOfDirectory(atPath: out), !names.isEmpty, !names.contains(marker) {
            throw WriteError(
                path: out, reason: "exists and was not written by vaelab export (no \(marker)); choose another --out")
        }
        try AtomicFile.makeDirectory(out)
        // Staging directories of exports that died (their process is gone) are removed.
        for name in (try? fm.contentsOfDirectory(atPath: out)) ?? [] where name.hasPrefix(".staging-") {
            guard let pid = Int32(name.dropFirst(".staging-".count).prefix { $0.isNumber }) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? fm.removeItem(atPath: "\(out)/\(name)") }
        }
        if !fm.fileExists(atPath: "\(out)/\(marker)") {
            try AtomicFile.write(
                "Written by `vaelab export`; its entries are replaced on each export.\n", to: "\(out)/\(marker)")
        }
    }

    /// Puts `staged` at `target`: one rename over a file; for a directory, the old one is moved
    /// aside first (a rename cannot replace a non-empty directory) and removed after.
    static func replace(_ target: String, with staged: String, isDirectory: Bool) throws {
        let aside = staged + ".old"
        let moveAside = isDirectory && FileManager.default.fileExists(atPath: target)
        if moveAside, rename(target, aside) != 0 {
            throw WriteError(path: target, reason: "cannot move the old export aside: \(errnoText())")
        }
        guard rename(staged, target) == 0 else {
            let reason = errnoText()
            if moveAside { _ = rename(aside, target) }
            throw WriteError(path: target, reason: "cannot move the new export into place: \(reason)")
        }
        if moveAside { try? FileManager.default.removeItem(atPath: aside) }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
