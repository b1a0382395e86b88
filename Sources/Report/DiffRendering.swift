import Experiments
import Foundation
import Support

/// The three renderings of a diff: Markdown, plain text and JSON.
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
            """
            ; groups +\(addedGroups.count) −\(removedGroups.count); studies +\(addedStudies.count) \
            −\(removedStudies.count)
            """
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
        // Computed cells only need their pipes escaped; user text (revisions, names) goes through
        // `Markdown.inline`.
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        let user = Markdown.inline
        var s = "# Results summary diff\n\n"
        s += "**A**: \(user(labelA)) · **B**: \(user(labelB))\n\n"
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
                    """
                    \n## \(user(r.study))\n\n| group | metric | A | B | Δ | rel. | sig. \
                    |\n|---|---|--:|--:|--:|--:|:-:|\n
                    """
            }
            let sig = Self.mark(r)
            let cells = [
                r.metric, Self.value(r.a), Self.value(r.b), Self.signed(r.delta, 4),
                Self.signed(r.relativePercent, 2, suffix: "%"), sig == "*" ? "**\\***" : sig,
            ]
            s += "| " + ([user(r.group.display)] + cells.map(cell)).joined(separator: " | ") + " |\n"
        }
        func list(_ title: String, _ items: [String]) {
            guard !items.isEmpty else { return }
            s += "\n## \(title)\n\n" + items.map { "- \(user($0))\n" }.joined()
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
            config = g.config.groupFields
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
            try c.encode(row.group.config.groupFields, forKey: .config)
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
