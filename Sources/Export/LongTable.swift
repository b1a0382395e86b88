import CSV
import Experiments
import Foundation
import Report
import Support
import Training

/// A finished run as one study lists it. Every export row carries the study, the group (the
/// summary's row label, made unique within its study: `StudySummary.uniqueLabels`) and the run;
/// a run that two studies share appears under each, so grouping by study and group gives each
/// study's table.
public struct StudyRun {
    public let study: String
    public let group: String
    public let run: ResultsTree.Run
    public let metrics: RunMetrics
}

extension ResultsTree {
    /// Every finished run of every study: studies by name, runs in their study's order.
    public var studyRuns: [StudyRun] {
        var groups: [String: String] = [:]  // "study/run id" -> the summary's unique group label
        for study in summary.studies {
            for (group, label) in zip(study.groups, study.uniqueLabels) {
                for id in group.runIDs { groups["\(study.name)/\(id)"] = label }
            }
        }
        return studies.flatMap { study in
            study.runs.compactMap { entry -> StudyRun? in
                guard let run = run(entry.id), let metrics = run.metrics else { return nil }
                let group = groups["\(study.name)/\(entry.id)"] ?? Summary.label(entry.config)
                return StudyRun(study: study.name, group: group, run: run, metrics: metrics)
            }
        }
    }
}

/// The long-format tables, one value per row, each row led by `run_id`, `study`, `group` and
/// every run field (config.json's keys, the seed among them):
/// - curves: `epoch`, `split` (train | test), `metric` (recon | kl | total), `value`;
/// - final: `metric` (the summary's names, plus `test_nll_iwae_stderr` where a run has it), `value`.
/// `groupby(["study", "group", "metric"]).value.agg(["mean", "std"])` over the final table gives
/// summary.md's cells. A value that does not apply (the AE's KL) has no row.
public struct LongTable: Sendable {
    public var columns: [String]
    public var rows: [[FieldValue]]

    static let leadingColumns = ["run_id", "study", "group"] + RunField.all.map(\.key)

    static func leading(_ r: StudyRun) -> [FieldValue] {
        [.text(r.run.id), .text(r.study), .text(r.group)] + RunField.all.map { $0.value(of: r.run.config) }
    }

    public static func curves(_ runs: [StudyRun]) -> LongTable {
        var table = LongTable(columns: leadingColumns + ["epoch", "split", "metric", "value"], rows: [])
        for r in runs {
            let lead = leading(r)
            for record in r.metrics.epochs {
                for (split, losses) in [("train", record.train), ("test", record.test)] {
                    for (metric, value) in losses.parts {
                        table.rows.append(lead + [.integer(record.epoch), .text(split), .text(metric), .number(value)])
                    }
                }
            }
        }
        return table
    }

    public static func finals(_ runs: [StudyRun]) -> LongTable {
        var table = LongTable(columns: leadingColumns + ["metric", "value"], rows: [])
        for r in runs {
            let lead = leading(r)
            var values = r.metrics.final.summaryValues
            if let stderr = r.metrics.final.testNLLStandardError { values.append(("test_nll_iwae_stderr", stderr)) }
            for (metric, value) in values { table.rows.append(lead + [.text(metric), .number(value)]) }
        }
        return table
    }

    /// CSV with a header line; null is an empty cell (pandas reads NaN).
    public func csv() throws -> [UInt8] {
        try csvBytes([columns] + rows.map { row in row.map { $0 == .null ? "" : $0.text } })
    }

    /// JSON Lines: one object per row, members in column order.
    public func jsonLines() -> [UInt8] {
        var out = ""
        for row in rows {
            out += JSONValue.object(zip(columns, row.map(\.json)).map { ($0, $1) }).compact + "\n"
        }
        return Array(out.utf8)
    }
}

extension LossSummary {
    /// (name, value) of the parts this summary has: recon, kl (not for the AE), total.
    var parts: [(String, Double)] {
        [("recon", recon)] + (kl.map { [("kl", $0)] } ?? []) + [("total", total)]
    }
}

extension FieldValue {
    /// The value as JSON; a non-finite number is null.
    var json: JSONValue {
        switch self {
        case .integer, .unsigned: return .number(text, isInteger: true)
        case .number(let x): return x.isFinite ? .number(text, isInteger: false) : .null
        case .text(let s): return .string(s)
        case .null: return .null
        }
    }
}

/// RFC 4180 CSV (CSV.swift quotes the cells that need it), LF line ends, a final newline.
public func csvBytes(_ lines: [[String]]) throws -> [UInt8] {
    let stream = OutputStream(toMemory: ())
    stream.open()
    let writer = try CSVWriter(stream: stream)
    for line in lines { try writer.write(row: line) }
    stream.close()
    guard let data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data else {
        throw WriteError(path: "CSV", reason: "the in-memory stream returned no data")
    }
    return [UInt8](data) + [0x0A]
}
