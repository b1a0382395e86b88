import Datasets
import Experiments
import Foundation
import NeuralNet
import Support
import Training

/// A results tree that cannot be read; one line naming the file and what was expected.
public struct ReportError: Error, CustomStringConvertible {
    public let file: String
    public let message: String
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
}

/// Everything the report needs, read from `results/` alone: the studies, the summary and every
/// run's config, metrics, timing and figures.
public struct ResultsTree {
    public enum Status: String, Sendable { case done, failed, missing, invalid }

    public struct Run {
        public var id: String
        public var config: RunConfig
        public var studies: [String]
        public var status: Status
        /// Why the run is failed or invalid.
        public var note: String?
        public var metrics: RunMetrics?
        public var timing: RunTiming?
        public var directory: RunDirectory
    }

    public let root: String
    public let store: ResultsStore
    public let studies: [StudyRecord]
    public let summary: Summary
    /// Every run of every study, in study order, each once.
    public let runs: [Run]
    /// Runs of the independent PyTorch implementation (`<root>/pytorch/*.json`), if any.
    public let referenceRuns: [ReferenceRun]

    public func run(_ id: String) -> Run? { runs.first { $0.id == id } }

    public init(root: String) throws {
        self.root = root
        store = ResultsStore(root: root)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReportError(file: root, message: "no results directory (run `make ablation` or `vaelab run` first)")
        }
        summary = try Self.readSummary(store.summaryJSONPath)
        var studies: [StudyRecord] = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store.studiesDirectory)) ?? []
        for name in names.filter({ $0.hasSuffix(".json") }).sorted() {
            let path = store.studiesDirectory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ReportError(file: path, message: "cannot read the file")
            }
            do {
                let study = try JSONDecoder().decode(StudyRecord.self, from: data)
                guard study.format == StudyRecord.currentFormat else {
                    throw ReportError(
                        file: path, message: "format \(study.format), expected \(StudyRecord.currentFormat)")
                }
                studies.append(study)
            } catch let e as ReportError { throw e } catch {
                throw ReportError(file: path, message: "not a study record (\(Self.describe(error)))")
            }
        }
        self.studies = studies
        var runs: [Run] = []
        var index: [String: Int] = [:]
        for study in studies {
            for entry in study.runs {
                if let i = index[entry.id] {
                    if !runs[i].studies.contains(study.name) { runs[i].studies.append(study.name) }
                    continue
                }
                index[entry.id] = runs.count
                runs.append(Self.readRun(entry, study: study.name, store: store))
            }
        }
        self.runs = runs
        referenceRuns = try ReferenceRun.readAll(directory: root + "/pytorch")
    }

    public static func readSummary(_ path: String) throws -> Summary {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError(file: path, message: "missing (run `vaelab run` to create it)")
        }
        do {
            var parser = JSONParser(bytes: [UInt8](data))
            _ = try parser.parseDocument()
        } catch let error as JSONParseError {
            throw ReportError(file: path, message: "not valid JSON: \(error.message) at byte \(error.offset)")
        }
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let format = object["format"] as? String, format != Summary.currentFormat
        {
            throw ReportError(file: path, message: "format \(format), expected \(Summary.currentFormat)")
        }
        do { return try JSONDecoder().decode(Summary.self, from: data) } catch {
            throw ReportError(file: path, message: "not a \(Summary.currentFormat) file (\(describe(error)))")
        }
    }

    static func readRun(_ entry: StudyRecord.Entry, study: String, store: ResultsStore) -> Run {
        let dir = store.run(entry.id)
        var run = Run(id: entry.id, config: entry.config, studies: [study], status: .missing, directory: dir)
        let fm = FileManager.default
        let pinned = DatasetName(rawValue: entry.config.dataset).map { datasetFingerprint($0.pinnedChecksums) } ?? ""
        if fm.fileExists(atPath: dir.metricsPath) {
            switch dir.verifyMetrics(config: entry.config, dataFingerprint: pinned) {
            case .success(let m):
                run.status = .done
                run.metrics = m
                if let data = fm.contents(atPath: dir.timingPath) {
                    run.timing = try? JSONDecoder().decode(RunTiming.self, from: data)
                }
            case .failure(let problem):
                run.status = .invalid
                run.note = problem.reason
            }
        } else if let data = fm.contents(atPath: dir.failurePath) {
            run.status = .failed
            run.note = (try? JSONDecoder().decode(RunFailure.self, from: data))?.error ?? "failure.json is unreadable"
        }
        return run
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let c):
            return "missing field \((c.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c),
            DecodingError.dataCorrupted(let c):
            return "bad field \(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        default: return "\(error)"
        }
    }
}
