import Experiments
import Export
import Foundation
import Report
import ResultsFixture
import Support
import Testing
import Training

private func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

/// Every file under `root`, relative path -> bytes.
private func tree(_ root: String) throws -> [String: [UInt8]] {
    var out: [String: [UInt8]] = [:]
    for case let path as String in FileManager.default.enumerator(atPath: root)! {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue
        {
            out[path] = try bytes(root + "/" + path)
        }
    }
    return out
}

@Suite("Exports of the fixture results tree", .serialized)
struct ExportTests {
    /// The fixture's finished runs: the reference study's VAE d=2 (2 seeds), VAE d=16 and AE d=2,
    /// and the beta sweep's three VAEs, one of them the reference's VAE d=16.
    @Test func longTablesHaveARowPerValueAndReproduceTheSummary() throws {
        let results = try ResultsFixture.makeResults()
        let t = try ResultsTree(root: results)
        let runs = t.studyRuns
        #expect(runs.count == 7 && Set(runs.map(\.run.id)).count == 6)
        let curves = LongTable.curves(runs)
        let ae = runs.filter { $0.run.config.model == .ae }.count
        #expect(curves.rows.count == 3 * (6 * (runs.count - ae) + 4 * ae))  // 3 epochs; the AE has no KL
        #expect(curves.columns.prefix(4) == ["run_id", "study", "group", "model"])
        #expect(curves.columns.suffix(4) == ["epoch", "split", "metric", "value"])

        let finals = LongTable.finals(runs)
        let column = { (name: String) in finals.columns.firstIndex(of: name)! }
        var values: [String: [Double]] = [:]
        for row in finals.rows {
            guard case .text(let s) = row[column("study")], case .text(let g) = row[column("group")],
                case .text(let m) = row[column("metric")], case .number(let v) = row[column("value")]
            else {
                Issue.record("row \(row)")
                continue
            }
            values["\(s)|\(g)|\(m)", default: []].append(v)
        }
        var checked = 0
        for study in t.summary.studies {
            for group in study.groups {
                for (metric, statistic) in group.metrics {
                    let v = try #require(values["\(study.name)|\(group.label)|\(metric)"])
                    #expect(Statistic(v) == statistic)
                    checked += 1
                }
            }
        }
        #expect(checked == values.count && checked > 20)
    }

    /// Groups whose configs differ only in unlabelled fields share a label; exports number them.
    @Test func sharedGroupLabelsAreNumbered() {
        let groups = ["a", "a", "b", "a"].map {
            GroupSummary(
                label: $0, config: RunConfig(), seeds: [0], runIDs: [], done: 0, missing: 0, failed: 0, metrics: [:])
        }
        let study = StudySummary(name: "s", description: "", specFile: "", specSHA256: "", groups: groups)
        #expect(study.uniqueLabels == ["a", "a #2", "b", "a #3"])
    }

    @Test func csvCellsAreQuotedAsRFC4180Says() throws {
        let text = String(decoding: try csvBytes([["a,b", "c\"d", "e\nf", "plain", ""]]), as: UTF8.self)
        #expect(text == "\"a,b\",\"c\"\"d\",\"e\nf\",plain,\n")
    }

    /// The AE's event file read back with our reader and swift-protobuf: the version, the config
    /// as text, four tags an epoch (no KL), and the final metrics at the last epoch.
    @Test func eventFileHoldsTheRunsCurvesAndFinals() throws {
        let results = try ResultsFixture.makeResults()
        let r = try #require(try ResultsTree(root: results).studyRuns.first { $0.run.config.model == .ae })
        let events = try TensorBoardRun.read(try TensorBoardRun.file(r))
        #expect(events.count == 2 + 3 + 1)
        #expect(events[0].fileVersion == "brain.Event:2")
        let text = String(decoding: events[1].summary.value[0].tensor.stringVal[0], as: UTF8.self)
        #expect(events[1].summary.value[0].metadata.pluginData.pluginName == "text" && text.contains(r.run.id))
        for (i, record) in r.metrics.epochs.enumerated() {
            let e = events[2 + i]
            #expect(e.step == Int64(record.epoch))
            #expect(e.summary.value.map(\.tag) == ["train/recon", "train/total", "test/recon", "test/total"])
            #expect(e.summary.value[3].simpleValue == Float(record.test.total))
        }
        let last = events[5]
        #expect(last.step == 3 && last.summary.value.map(\.tag).contains("final/knn_accuracy"))
    }

    @Test func exportsAreDeterministicAndFormatsReplaceOnlyTheirOwnEntries() throws {
        let results = try ResultsFixture.makeResults()
        let a = ResultsFixture.scratchDirectory() + "/a"
        let b = ResultsFixture.scratchDirectory() + "/b"
        let all = ExportFormat.allCases
        let outcome = try Exporter.export(results: results, out: a, formats: all)
        _ = try Exporter.export(results: results, out: b, formats: all)
        #expect(try tree(a) == tree(b))
        #expect(outcome.runs == 6 && outcome.files == 4 + 6 + (2 + 6))
        #expect(try tree(a + "/tensorboard").count == 6 && tree(a + "/dvc/curves").count == 6)

        // A stale run directory goes with its format's next export; other formats' files stay.
        try AtomicFile.makeDirectory(a + "/tensorboard/gone")
        try AtomicFile.write("x", to: a + "/tensorboard/gone/events.out.tfevents.0.vaelab")
        try AtomicFile.write("edited", to: a + "/final.csv")
        _ = try Exporter.export(results: results, out: a, formats: [.tensorboard])
        #expect(!FileManager.default.fileExists(atPath: a + "/tensorboard/gone"))
        #expect(try bytes(a + "/final.csv") == Array("edited".utf8))
        _ = try Exporter.export(results: results, out: a, formats: [.csv])
        #expect(try tree(a) == tree(b))
        #expect(try FileManager.default.contentsOfDirectory(atPath: a).allSatisfy { !$0.hasPrefix(".staging") })

        // What an export killed mid-way left (its process is gone) is cleared by the next one.
        try AtomicFile.makeDirectory(a + "/.staging-2147483646/tensorboard")
        _ = try Exporter.export(results: results, out: a, formats: [.jsonl])
        #expect(try tree(a) == tree(b))
        #expect(!FileManager.default.fileExists(atPath: a + "/.staging-2147483646"))
    }

    @Test func aDirectoryNotWrittenByExportIsRefused() throws {
        let results = try ResultsFixture.makeResults()
        let out = ResultsFixture.scratchDirectory()
        try AtomicFile.write("mine", to: out + "/notes.txt")
        #expect(throws: WriteError.self) { try Exporter.export(results: results, out: out, formats: [.csv]) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == ["notes.txt"])
    }

    @Test func unreadableResultsWriteNothing() throws {
        let results = try ResultsFixture.makeResults()
        try AtomicFile.write("{", to: ResultsStore(root: results).summaryJSONPath)
        let out = ResultsFixture.scratchDirectory() + "/export"
        #expect(throws: ReportError.self) { try Exporter.export(results: results, out: out, formats: [.csv]) }
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
