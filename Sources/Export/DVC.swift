import Experiments
import Report
import Support
import Training
import Yams

/// What DVC reads: `dvc.yaml` with top-level `metrics:` and `plots:` and no stages, the summary
/// as nested objects (`dvc/metrics.json`: study → group → metric → mean, std, n; DVC skips
/// arrays, which summary.json's studies and groups are) and each run's curves
/// (`dvc/curves/<run id>.csv`: epoch, train_recon, …, test_total). One linear plot per study
/// and test metric draws every run of the study.
enum DVCExport {
    static let metricsPath = "dvc/metrics.json"

    static func curvesPath(_ id: String) -> String { "dvc/curves/\(id).csv" }

    static func files(_ tree: ResultsTree, _ runs: [StudyRun]) throws -> [String: [UInt8]] {
        var files = ["dvc.yaml": Array(try dvcYAML(tree.summary, runs).utf8), metricsPath: metricsJSON(tree.summary)]
        for r in runs where files[curvesPath(r.run.id)] == nil {
            files[curvesPath(r.run.id)] = try curvesCSV(r.metrics)
        }
        return files
    }

    static func metricsJSON(_ summary: Summary) -> [UInt8] {
        let studies = summary.studies.map { study in
            let groups = zip(study.groups, study.uniqueLabels).filter { !$0.0.metrics.isEmpty }.map { g, label in
                let metrics = Summary.metricOrder.compactMap { key in
                    g.metrics[key].map { (key, statisticJSON($0)) }
                }
                return (label, JSONValue.object(metrics))
            }
            return (study.name, JSONValue.object(groups))
        }
        return Array((JSONValue.object(studies).pretty() + "\n").utf8)
    }

    static func statisticJSON(_ s: Statistic) -> JSONValue {
        var members: [(String, JSONValue)] = [("mean", FieldValue.number(s.mean).json)]
        if let std = s.std { members.append(("std", FieldValue.number(std).json)) }
        members.append(("n", FieldValue.integer(s.n).json))
        return .object(members)
    }

    /// One row per epoch; the AE's curves have no KL columns.
    static func curvesCSV(_ m: RunMetrics) throws -> [UInt8] {
        guard let first = m.epochs.first else { return try csvBytes([["epoch"]]) }
        let header =
            ["epoch"]
            + [("train", first.train), ("test", first.test)].flatMap { split, losses in
                losses.parts.map { "\(split)_\($0.0)" }
            }
        let rows = m.epochs.map { e in
            [String(e.epoch)] + (e.train.parts + e.test.parts).map { FieldValue.number($0.1).text }
        }
        return try csvBytes([header] + rows)
    }

    static let plottedMetrics = [("test_total", "test total"), ("test_recon", "test recon"), ("test_kl", "test KL")]

    static func dvcYAML(_ summary: Summary, _ runs: [StudyRun]) throws -> String {
        var plots: [Node] = []
        for study in summary.studies {
            let members = runs.filter { $0.study == study.name }
            for (column, name) in plottedMetrics {
                let drawn = members.filter { column != "test_kl" || $0.metrics.final.test.kl != nil }
                guard !drawn.isEmpty else { continue }
                let y = Node(drawn.map { (Node(curvesPath($0.run.id)), Node(column)) })
                let definition = Node([
                    (Node("template"), Node("linear")), (Node("x"), Node("epoch")), (Node("y"), y),
                    (Node("title"), Node("\(study.name): \(name) per epoch")),
                    (Node("x_label"), Node("epoch")), (Node("y_label"), Node("\(name) (nats per image)")),
                ])
                plots.append(Node([(Node("\(study.name) \(name)"), definition)]))
            }
        }
        let document = Node([(Node("metrics"), Node([Node(metricsPath)])), (Node("plots"), Node(plots))])
        return "# Written by `vaelab export` from the results tree; regenerate, do not edit.\n"
            + (try Yams.serialize(node: document))
    }
}
