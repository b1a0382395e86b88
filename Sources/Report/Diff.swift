import Experiments
import Foundation
import NeuralNet
import Support

/// Why `results/summary.json` could not be read at a revision. Every message is one line that
/// names the revision and the file when they are known.
public struct DiffError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// git could not be started at all.
        case gitUnavailable
        /// The results directory is not inside a git work tree.
        case notARepository
        /// The revision does not name a commit.
        case unknownRevision
        /// The commit has no summary file at that path.
        case missingSummary
        /// The file is not valid UTF-8 JSON.
        case invalidJSON
        /// The file is JSON but its `format` is not `Summary.currentFormat`.
        case unsupportedFormat
        /// The file has the right format but not the shape of a summary.
        case invalidSummary
        /// `WORKTREE`: the file does not exist (or cannot be read) on disk.
        case missingWorkingTreeFile
        /// Any other git failure.
        case gitFailed
    }

    public let kind: Kind
    /// The revision as the user gave it (`WORKTREE` for the working tree), when it matters.
    public let revision: String?
    /// The file, relative to the repository root for a commit, as given for the working tree.
    public let path: String?
    public let message: String

    public init(_ kind: Kind, revision: String? = nil, path: String? = nil, message: String) {
        self.kind = kind
        self.revision = revision
        self.path = path
        self.message = message
    }

    /// One line: control characters quoted from the input are escaped.
    public var description: String {
        message.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
    }
}

/// The difference between two `results/summary.json` files, metric by metric.
///
/// Groups are matched by study name plus their `config` dictionary (the run configuration without
/// the seed), not by label. One row per (study, group, metric) present in both summaries' group;
/// groups and studies on one side only are listed separately.
public struct SummaryDiff: Sendable {
    /// The revision name that means "the file on disk".
    public static let worktree = "WORKTREE"
    /// `format` of the JSON rendering.
    public static let jsonFormat = "vaelab.summary-diff/1"

    /// One configuration group of one study.
    public struct GroupRef: Sendable, Equatable, Hashable {
        public var study: String
        /// The group's label (B's when the group is on both sides).
        public var label: String
        /// The label, plus the config keys that tell it apart when another group of the study has the same label.
        public var display: String
        /// The group's config (without the seed).
        public var config: [String: String]
        /// Canonical identity within the study: `key=value` pairs, keys sorted, joined by `;`.
        public var key: String
    }

    /// Whether a change is larger than its noise over seeds.
    public enum Significance: String, Sendable, Equatable {
        /// |Δ| > 2·SE.
        case significant
        /// |Δ| ≤ 2·SE.
        case notSignificant = "not_significant"
        /// A standard deviation is missing (a single seed): no test possible.
        case untestable
        /// The metric exists in one summary only.
        case oneSided = "one_sided"
    }

    public struct Row: Sendable, Equatable {
        public var group: GroupRef
        public var metric: String
        public var a: Statistic?
        public var b: Statistic?
        /// B − A of the means (both present); rounded to 1e-6 to drop floating-point noise.
        public var delta: Double?
        /// Δ / |A| in percent (nil when A's mean is 0 or a side is missing); rounded to 1e-4.
        public var relativePercent: Double?
        /// sqrt(stdA²/nA + stdB²/nB), when both stds are known.
        public var standardError: Double?
        public var significance: Significance

        public var study: String { group.study }
        /// A and B differ (mean, std or n), or the metric is on one side only.
        public var changed: Bool { a != b }
        public var isSignificant: Bool { significance == .significant }
    }

    public private(set) var rows: [Row]
    /// Groups in B but not in A (including the groups of added studies), sorted.
    public let addedGroups: [GroupRef]
    /// Groups in A but not in B (including the groups of removed studies), sorted.
    public let removedGroups: [GroupRef]
    public let addedStudies: [String]
    public let removedStudies: [String]
    /// True after `changedOnly()`: rows whose A and B are equal were dropped.
    public private(set) var onlyChanged = false
    /// Rows before `changedOnly()` filtering.
    public let totalRows: Int

    public init(a: Summary, b: Summary) {
        func studies(_ s: Summary) -> [String: StudySummary] {
            var out: [String: StudySummary] = [:]
            for study in s.studies where out[study.name] == nil { out[study.name] = study }
            return out
        }
        let studiesA = studies(a)
        let studiesB = studies(b)
        addedStudies = studiesB.keys.filter { studiesA[$0] == nil }.sorted()
        removedStudies = studiesA.keys.filter { studiesB[$0] == nil }.sorted()

        var rows: [Row] = []
        var added: [GroupRef] = []
        var removed: [GroupRef] = []
        for name in Set(studiesA.keys).union(studiesB.keys).sorted() {
            let groupsA = Self.groups(studiesA[name])
            let groupsB = Self.groups(studiesB[name])
            // Labels, B's first; a label shared by several configs gets the distinguishing keys appended.
            var labels: [String: (label: String, config: [String: String])] = [:]
            for (key, g) in groupsA { labels[key] = (g.label, g.config) }
            for (key, g) in groupsB { labels[key] = (g.label, g.config) }
            let refs = Self.references(study: name, labels)
            for key in Set(groupsA.keys).union(groupsB.keys) {
                let ref = refs[key]!
                switch (groupsA[key], groupsB[key]) {
                case (let ga?, let gb?): rows += Self.rows(ref, ga.metrics, gb.metrics)
                case (_?, nil): removed.append(ref)
                case (nil, _?): added.append(ref)
                case (nil, nil): break
                }
            }
        }
        rows.sort(by: Self.rowOrder)
        self.rows = rows
        totalRows = rows.count
        addedGroups = added.sorted(by: Self.groupOrder)
        removedGroups = removed.sorted(by: Self.groupOrder)
    }

    /// The same diff without rows whose A and B are equal (the `--changed` view).
    public func changedOnly() -> SummaryDiff {
        var copy = self
        copy.rows = rows.filter(\.changed)
        copy.onlyChanged = true
        return copy
    }

    public var changedCount: Int { rows.filter(\.changed).count }
    public var significantCount: Int { rows.filter(\.isSignificant).count }
    /// Nothing differs: every row equal, no group or study added or removed.
    public var isEmpty: Bool {
        rows.allSatisfy { !$0.changed } && addedGroups.isEmpty && removedGroups.isEmpty
            && addedStudies.isEmpty && removedStudies.isEmpty
    }

    // MARK: - Building

    /// The canonical identity of a group config.
    public static func groupKey(_ config: [String: String]) -> String {
        config.keys.sorted().map { "\($0)=\(config[$0]!)" }.joined(separator: ";")
    }

    private static func groups(_ study: StudySummary?) -> [String: GroupSummary] {
        var out: [String: GroupSummary] = [:]
        for g in study?.groups ?? [] {
            let key = groupKey(g.config)
            if out[key] == nil { out[key] = g }
        }
        return out
    }

    private static func references(study: String, _ labels: [String: (label: String, config: [String: String])])
        -> [String: GroupRef]
    {
        var byLabel: [String: [String]] = [:]
        for (key, entry) in labels { byLabel[entry.label, default: []].append(key) }
        var out: [String: GroupRef] = [:]
        for (key, entry) in labels {
            var display = entry.label
            let clash = byLabel[entry.label]!
            if clash.count > 1 {
                // Keys whose values are not the same across the groups that share this label.
                let configs = clash.compactMap { labels[$0]?.config }
                let allKeys = Set(configs.flatMap(\.keys)).sorted()
                let differing = allKeys.filter { k in Set(configs.map { $0[k] ?? "–" }).count > 1 }
                display += " [" + differing.map { "\($0)=\(entry.config[$0] ?? "–")" }.joined(separator: ", ") + "]"
            }
            out[key] = GroupRef(study: study, label: entry.label, display: display, config: entry.config, key: key)
        }
        return out
    }

    private static func rows(_ group: GroupRef, _ a: [String: Statistic], _ b: [String: Statistic]) -> [Row] {
        Set(a.keys).union(b.keys).map { metric in
            let sa = a[metric]
            let sb = b[metric]
            var row = Row(
                group: group, metric: metric, a: sa, b: sb, delta: nil, relativePercent: nil,
                standardError: nil, significance: .oneSided)
            guard let sa, let sb else { return row }
            let delta = sb.mean - sa.mean
            // Means near ±1e308 can differ by more than a Double holds: no delta then.
            guard delta.isFinite else {
                row.significance = .untestable
                return row
            }
            row.delta = rounded(delta, 6)
            if sa.mean != 0, (delta / abs(sa.mean) * 100).isFinite {
                row.relativePercent = rounded(delta / abs(sa.mean) * 100, 4)
            }
            if let stdA = sa.std, let stdB = sb.std, sa.n > 0, sb.n > 0,
                (stdA * stdA / Double(sa.n) + stdB * stdB / Double(sb.n)).isFinite
            {
                let se = (stdA * stdA / Double(sa.n) + stdB * stdB / Double(sb.n)).squareRoot()
                row.standardError = rounded(se, 6)
                row.significance = abs(row.delta!) > 2 * se ? .significant : .notSignificant
            } else {
                row.significance = .untestable
            }
            return row
        }
    }

    static func rounded(_ x: Double, _ digits: Int) -> Double {
        let scale = pow(10, Double(digits))
        guard (x * scale).isFinite else { return x }  // huge values: nothing to round
        let r = (x * scale).rounded() / scale
        return r == 0 ? 0 : r  // no -0
    }

    /// Summary.metricOrder first, then any other metric alphabetically.
    static func metricRank(_ m: String) -> (Int, String) {
        (Summary.metricOrder.firstIndex(of: m) ?? Summary.metricOrder.count, m)
    }

    static func groupOrder(_ x: GroupRef, _ y: GroupRef) -> Bool {
        if x.study != y.study { return x.study < y.study }
        if x.display != y.display {
            let n = naturalCompare(x.display, y.display)
            return n != 0 ? n < 0 : x.display < y.display
        }
        return x.key < y.key
    }

    static func rowOrder(_ x: Row, _ y: Row) -> Bool {
        if x.group != y.group { return groupOrder(x.group, y.group) }
        return metricRank(x.metric) < metricRank(y.metric)
    }

    /// Compares runs of digits by value, so "d=2" sorts before "d=16"; -1, 0 or 1.
    static func naturalCompare(_ x: String, _ y: String) -> Int {
        func chunks(_ s: String) -> [(isNumber: Bool, text: String)] {
            var out: [(Bool, String)] = []
            for c in s {
                let digit = c.isASCII && c.isNumber
                if let last = out.last, last.0 == digit {
                    out[out.count - 1].1.append(c)
                } else {
                    out.append((digit, String(c)))
                }
            }
            return out
        }
        let a = chunks(x)
        let b = chunks(y)
        for (p, q) in zip(a, b) {
            if p.isNumber && q.isNumber {
                let u = p.text.drop { $0 == "0" }
                let v = q.text.drop { $0 == "0" }
                if u.count != v.count { return u.count < v.count ? -1 : 1 }
                if u != v { return u < v ? -1 : 1 }
            } else if p.text != q.text {
                return p.text < q.text ? -1 : 1
            }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    // MARK: - Loading through git

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

// MARK: - Rendering

extension SummaryDiff {
    static func value(_ s: Statistic?) -> String {
        guard let s else { return "–" }
        var out = String(format: "%.4f", s.mean)
        if let std = s.std { out += " ± " + String(format: "%.4f", std) }
        return out + " (\(s.n))"
    }

    static func signed(_ x: Double?, _ digits: Int, suffix: String = "") -> String {
        guard let x else { return "–" }
        let s = String(format: "%+.\(digits)f", x)
        let zero = "+" + String(format: "%.\(digits)f", 0.0)
        if s == zero || s == "-" + zero.dropFirst() { return String(zero.dropFirst()) + suffix }
        return s + suffix
    }

    /// "*", "" (not significant), "n=1" / "no std" (no test possible), "only A" / "only B".
    static func mark(_ row: Row) -> String {
        switch row.significance {
        case .significant: return "*"
        case .notSignificant: return ""
        case .untestable:
            let single = [row.a, row.b].contains { $0?.n == 1 }
            return single ? "n=1" : "no std"
        case .oneSided: return row.a == nil ? "only B" : "only A"
        }
    }

    static let legend =
        "Δ = B − A; rel. = Δ/|A|; * = |Δ| > 2·SE with SE = √(s_A²/n_A + s_B²/n_B) over seeds; "
        + "n=1 = a single seed, no test; values are mean ± std (n)"

    private var counts: String {
        var s = "\(rows.count) row\(rows.count == 1 ? "" : "s")"
        if onlyChanged { s += " (of \(totalRows); unchanged rows hidden)" }
        s += ", \(changedCount) changed, \(significantCount) significant (*)"
        s +=
            "; groups +\(addedGroups.count) −\(removedGroups.count); studies +\(addedStudies.count) −\(removedStudies.count)"
        return s
    }

    /// Plain text: one aligned table (study, group, metric, A, B, Δ, rel., sig.), then the groups
    /// and studies on one side only.
    public func text(labelA: String, labelB: String) -> String {
        var s = "A: \(labelA)\nB: \(labelB)\n\(Self.legend)\n\n"
        if rows.isEmpty {
            s += onlyChanged ? "no changed values in the groups of both summaries\n" : "no groups in common\n"
        } else {
            let header = ["study", "group", "metric", "A", "B", "Δ", "rel.", "sig."]
            let table = rows.map { r in
                [
                    r.study, r.group.display, r.metric, Self.value(r.a), Self.value(r.b),
                    Self.signed(r.delta, 4), Self.signed(r.relativePercent, 2, suffix: "%"), Self.mark(r),
                ]
            }
            var widths = header.map(\.count)
            for line in table { for (i, cell) in line.enumerated() { widths[i] = max(widths[i], cell.count) } }
            let rightAligned: Set<Int> = [3, 4, 5, 6]
            func format(_ cells: [String]) -> String {
                let padded = cells.enumerated().map { i, cell in
                    let pad = String(repeating: " ", count: widths[i] - cell.count)
                    return rightAligned.contains(i) ? pad + cell : cell + pad
                }
                return padded.joined(separator: "  ").replacingOccurrences(
                    of: "\\s+$", with: "", options: .regularExpression)
            }
            s += format(header) + "\n"
            for line in table { s += format(line) + "\n" }
        }
        func list(_ title: String, _ items: [String]) {
            guard !items.isEmpty else { return }
            s += "\n\(title):\n" + items.map { "  \($0)\n" }.joined()
        }
        list("studies added (only in B)", addedStudies)
        list("studies removed (only in A)", removedStudies)
        list("groups added (only in B)", addedGroups.map { "\($0.study): \($0.display)" })
        list("groups removed (only in A)", removedGroups.map { "\($0.study): \($0.display)" })
        s += "\n" + counts + "\n"
        return s
    }

    /// Markdown: one table per study, then the groups and studies on one side only.
    public func markdown(labelA: String, labelB: String) -> String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        var s = "# Results summary diff\n\n"
        s += "**A**: \(cell(labelA)) · **B**: \(cell(labelB))\n\n"
        s += "Δ = B − A; rel. = Δ / |A|; `*` marks |Δ| > 2·SE with SE = √(s_A²/n_A + s_B²/n_B) over seeds; "
        s += "`n=1`: a single seed, no test. Values are mean ± std (n).\n"
        if rows.isEmpty {
            s += onlyChanged ? "\nNo changed values in the groups of both summaries.\n" : "\nNo groups in common.\n"
        }
        var study: String?
        for r in rows {
            if r.study != study {
                study = r.study
                s +=
                    "\n## \(cell(r.study))\n\n| group | metric | A | B | Δ | rel. | sig. |\n|---|---|--:|--:|--:|--:|:-:|\n"
            }
            let sig = Self.mark(r)
            let cells = [
                r.group.display, r.metric, Self.value(r.a), Self.value(r.b), Self.signed(r.delta, 4),
                Self.signed(r.relativePercent, 2, suffix: "%"), sig == "*" ? "**\\***" : sig,
            ]
            s += "| " + cells.map(cell).joined(separator: " | ") + " |\n"
        }
        func list(_ title: String, _ items: [String]) {
            guard !items.isEmpty else { return }
            s += "\n## \(title)\n\n" + items.map { "- \(cell($0))\n" }.joined()
        }
        list("Studies added (only in B)", addedStudies)
        list("Studies removed (only in A)", removedStudies)
        list("Groups added (only in B)", addedGroups.map { "\($0.study): \($0.display)" })
        list("Groups removed (only in A)", removedGroups.map { "\($0.study): \($0.display)" })
        s += "\n" + counts + ".\n"
        return s
    }

    private struct JSONDocument: Encodable {
        var format = SummaryDiff.jsonFormat
        var a: String
        var b: String
        var changedOnly: Bool
        var rows: [JSONRow]
        var groupsAdded: [JSONGroup]
        var groupsRemoved: [JSONGroup]
        var studiesAdded: [String]
        var studiesRemoved: [String]
        var counts: [String: Int]
        enum CodingKeys: String, CodingKey {
            case format, a, b, rows, counts
            case changedOnly = "changed_only"
            case groupsAdded = "groups_added"
            case groupsRemoved = "groups_removed"
            case studiesAdded = "studies_added"
            case studiesRemoved = "studies_removed"
        }
    }

    private struct JSONGroup: Encodable {
        var study: String
        var label: String
        var config: [String: String]
        init(_ g: GroupRef) {
            study = g.study
            label = g.display
            config = g.config
        }
    }

    private struct JSONRow: Encodable {
        var row: Row
        enum CodingKeys: String, CodingKey {
            case study, group, config, metric, a, b, delta, significance, changed
            case relative = "relative_delta_percent"
            case standardError = "standard_error"
        }
        func encode(to encoder: Encoder) throws {
            // Every key always present (null when not applicable), so consumers see one shape.
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(row.study, forKey: .study)
            try c.encode(row.group.display, forKey: .group)
            try c.encode(row.group.config, forKey: .config)
            try c.encode(row.metric, forKey: .metric)
            try c.encode(row.a, forKey: .a)
            try c.encode(row.b, forKey: .b)
            try c.encode(row.delta, forKey: .delta)
            try c.encode(row.relativePercent, forKey: .relative)
            try c.encode(row.standardError, forKey: .standardError)
            try c.encode(row.significance.rawValue, forKey: .significance)
            try c.encode(row.changed, forKey: .changed)
        }
    }

    /// Pretty-printed JSON with sorted keys (`format` = `vaelab.summary-diff/1`): deterministic
    /// for the same inputs.
    public func json(labelA: String, labelB: String) throws -> String {
        let document = JSONDocument(
            a: labelA, b: labelB, changedOnly: onlyChanged, rows: rows.map { JSONRow(row: $0) },
            groupsAdded: addedGroups.map(JSONGroup.init), groupsRemoved: removedGroups.map(JSONGroup.init),
            studiesAdded: addedStudies, studiesRemoved: removedStudies,
            counts: [
                "rows": rows.count, "total_rows": totalRows, "changed": changedCount, "significant": significantCount,
            ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(document), as: UTF8.self) + "\n"
    }
}
