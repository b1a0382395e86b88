import Experiments
import Foundation
import NeuralNet
import Support
import Training

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
        /// The group's config (seed 0).
        public var config: RunConfig
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
            var labels: [String: (label: String, config: RunConfig)] = [:]
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
    public static func groupKey(_ config: RunConfig) -> String {
        let fields = config.groupFields
        return fields.keys.sorted().map { "\($0)=\(fields[$0]!)" }.joined(separator: ";")
    }

    private static func groups(_ study: StudySummary?) -> [String: GroupSummary] {
        var out: [String: GroupSummary] = [:]
        for g in study?.groups ?? [] {
            let key = groupKey(g.config)
            if out[key] == nil { out[key] = g }
        }
        return out
    }

    private static func references(study: String, _ labels: [String: (label: String, config: RunConfig)])
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
                let differing = RunField.all.filter { f in Set(configs.map { f.value(of: $0) }).count > 1 }
                display +=
                    " [" + differing.map { "\($0.key)=\($0.value(of: entry.config).text)" }.joined(separator: ", ")
                    + "]"
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

    /// Compares the numbers in labels by value, so "d=2" sorts before "d=16", "β=0.25" before
    /// "β=0.5" and "lr 1e-05" before "lr 0.001"; the rest as text. -1, 0 or 1.
    public static func naturalCompare(_ x: String, _ y: String) -> Int {
        let (a, b) = (numberChunks(x), numberChunks(y))
        for (p, q) in zip(a, b) {
            if let u = p.value, let v = q.value, u != v { return u < v ? -1 : 1 }
            if p.text != q.text { return p.text < q.text ? -1 : 1 }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    /// The text in runs of numbers (digits, a fraction, an exponent: "0.25", "1e-05") and of
    /// other characters; a number's run carries its value.
    private static func numberChunks(_ s: String) -> [(text: String, value: Double?)] {
        let c = Array(s)
        func digits(from i: Int) -> Int {
            var j = i
            while j < c.count, c[j].isASCII, c[j].isNumber { j += 1 }
            return j
        }
        var out: [(text: String, value: Double?)] = []
        var (i, other) = (0, "")
        while i < c.count {
            guard c[i].isASCII, c[i].isNumber else {
                other.append(c[i])
                i += 1
                continue
            }
            var j = digits(from: i)
            if j + 1 < c.count, c[j] == ".", digits(from: j + 1) > j + 1 { j = digits(from: j + 1) }
            if j + 1 < c.count, c[j] == "e" || c[j] == "E" {
                let k = c[j + 1] == "-" || c[j + 1] == "+" ? j + 2 : j + 1
                if digits(from: k) > k { j = digits(from: k) }
            }
            if !other.isEmpty { out.append((other, nil)) }
            let number = String(c[i..<j])
            out.append((number, Double(number)))
            (other, i) = ("", j)
        }
        if !other.isEmpty { out.append((other, nil)) }
        return out
    }
}
