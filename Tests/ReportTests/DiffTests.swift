import Experiments
import Foundation
import Report
import Testing

// MARK: - Fixtures

extension SummaryDiff {
    func fixtureRow(_ group: String, _ metric: String, study: String = "reference") -> Row? {
        rows.first { $0.study == study && $0.group.label == group && $0.metric == metric }
    }
}

/// Fixtures for the diff tests, namespaced so that nothing clashes with other files of the test target;
/// the suite is nested so it reaches them unqualified.
enum DiffTestSupport {
    /// One metric: mean, std (nil for a single seed), n.
    typealias Stat = (mean: Double, std: Double?, n: Int)

    struct FixtureGroup {
        var label: String
        var config: [String: String]
        var metrics: [String: Stat]
    }

    static func config(_ model: String, d: Int, h: Int = 256, extra: [String: String] = [:]) -> [String: String] {
        var c = [
            "model": model, "latent_dim": "\(d)", "hidden_units": "\(h)", "beta": "1", "batch_size": "128",
            "dataset": "mnist", "epochs": "25", "iwae_samples": "100", "knn_neighbors": "5",
            "learning_rate": "0.001", "test_limit": "null", "train_limit": "null",
        ]
        for (k, v) in extra { c[k] = v }
        return c
    }

    /// A summary.json in the shape `Summary` writes (every key present).
    static func summaryJSON(_ studies: [(name: String, groups: [FixtureGroup])], format: String = Summary.currentFormat)
        -> Data
    {
        let list: [[String: Any]] = studies.map { study in
            [
                "name": study.name, "description": "fixture study \(study.name)",
                "spec_file": "experiments/\(study.name).json",
                "spec_sha256": String(repeating: "0", count: 64),
                "groups": study.groups.map { g -> [String: Any] in
                    let n = g.metrics.values.map(\.n).max() ?? 1
                    return [
                        "label": g.label, "config": g.config, "seeds": Array(0..<n),
                        "run_ids": (0..<n).map { "run-\(g.label.hashValue & 0xffff)-s\($0)" },
                        "done": n, "missing": 0, "failed": 0,
                        "metrics": g.metrics.mapValues { s -> [String: Any] in
                            ["mean": s.mean, "std": s.std.map { $0 as Any } ?? NSNull(), "n": s.n]
                        },
                    ]
                },
            ]
        }
        let object: [String: Any] = ["format": format, "units": "fixture", "studies": list]
        return try! JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    static let g1 = "vae d=2 H=256 β=1", g2 = "ae d=2 H=256", g3 = "ae d=16 H=256", g4 = "vae d=16 H=256 β=1"

    /// Revision v1 (A).
    static func summaryV1() -> Data {
        summaryJSON([
            (
                "reference",
                [
                    FixtureGroup(
                        label: g1, config: config("vae", d: 2),
                        metrics: [
                            "train_total": (100, 0.1, 3), "test_total": (100, 1, 3), "test_kl": (6.5, 0.2, 3),
                            "active_units": (2, 0, 3), "zeta": (1, 0.1, 3), "alpha": (2, 0.1, 3),
                        ]),
                    FixtureGroup(
                        label: g2, config: config("ae", d: 2),
                        metrics: ["test_total": (90, nil, 1), "active_units": (0, nil, 1)]),
                    FixtureGroup(label: g3, config: config("ae", d: 16), metrics: ["test_total": (80, nil, 1)]),
                ]
            ),
            (
                "width",
                [
                    FixtureGroup(
                        label: "vae d=16 H=16 β=1", config: config("vae", d: 16, h: 16),
                        metrics: ["test_total": (99, nil, 1)])
                ]
            ),
        ])
    }

    /// Revision v2 (B): G1's train_total moves by 1 with std 0.1 (significant), test_total by 1 with
    /// std 1 (not), knn_accuracy appears, active_units disappears; G2 (n = 1) moves by 5; G3 and the
    /// study "width" are removed; G4 and the study "beta" are added. `g1TestTotal` for the working tree.
    static func summaryV2(g1TestTotal: Double = 101) -> Data {
        summaryJSON([
            (
                "reference",
                [
                    FixtureGroup(label: g4, config: config("vae", d: 16), metrics: ["test_total": (95, nil, 1)]),
                    FixtureGroup(
                        label: g2, config: config("ae", d: 2),
                        metrics: ["test_total": (95, nil, 1), "active_units": (2, nil, 1)]),
                    FixtureGroup(
                        label: g1, config: config("vae", d: 2),
                        metrics: [
                            "train_total": (101, 0.1, 3), "test_total": (g1TestTotal, 1, 3), "test_kl": (6.5, 0.2, 3),
                            "knn_accuracy": (0.9, 0.01, 3), "zeta": (1, 0.1, 3), "alpha": (2, 0.1, 3),
                        ]),
                ]
            ),
            (
                "beta",
                [
                    FixtureGroup(
                        label: "vae d=2 H=256 β=4", config: config("vae", d: 2, extra: ["beta": "4"]),
                        metrics: ["test_total": (150, nil, 1)])
                ]
            ),
        ])
    }

    /// A temporary git repository whose results live in `lab/results` (so the path inside the
    /// repository is `lab/results/summary.json`). Tags: `badjson` (invalid JSON), `newformat`
    /// (format vaelab.summary/2), `nores` (no summary), `v1`, `v2` = HEAD; the working tree holds v2
    /// with G1's test_total at 104.
    struct GitFixture {
        let root: String
        var results: String { root + "/lab/results" }
        static let summaryPath = "lab/results/summary.json"

        init() throws {
            root = NSTemporaryDirectory() + "vaelab-diff-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: root + "/lab/results", withIntermediateDirectories: true)
            try git("init", "-q")
            // Keeps lab/results in the tree when the summary is removed (tag nores).
            try Data("keep\n".utf8).write(to: URL(fileURLWithPath: results + "/README"))
            try write(Data("{\"format\": \"vaelab.summary/1\", \"studies\": [\n  {\"name\": \"x\",}\n]}\n".utf8))
            try commit("badjson")
            var other = summaryV1()
            other = Data(
                String(decoding: other, as: UTF8.self).replacingOccurrences(
                    of: "vaelab.summary/1", with: "vaelab.summary/2"
                ).utf8)
            try write(other)
            try commit("newformat")
            try git("rm", "-q", Self.summaryPath)
            try commit("nores")
            try write(summaryV1())
            try commit("v1")
            try write(summaryV2())
            try commit("v2")
            try write(summaryV2(g1TestTotal: 104))
        }

        func remove() { try? FileManager.default.removeItem(atPath: root) }

        func write(_ data: Data) throws { try data.write(to: URL(fileURLWithPath: results + "/summary.json")) }

        func commit(_ tag: String) throws {
            try git("add", "-A")
            try git("commit", "-q", "-m", tag)
            try git("tag", tag)
        }

        struct GitError: Error, CustomStringConvertible { var description: String }

        func git(_ arguments: String...) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments =
                [
                    "git", "-c", "user.name=vaelab tests", "-c", "user.email=tests@vaelab.invalid",
                    "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "init.defaultBranch=main",
                    "-c", "core.hooksPath=/dev/null",
                ] + arguments
            p.currentDirectoryURL = URL(fileURLWithPath: root)
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let message = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            if p.terminationStatus != 0 {
                throw GitError(
                    description: "git \(arguments.joined(separator: " ")): \(String(decoding: message, as: UTF8.self))")
            }
        }
    }

    static func withFixture<T>(_ body: (GitFixture) throws -> T) throws -> T {
        let f = try GitFixture()
        defer { f.remove() }
        return try body(f)
    }

    /// The diff v1 -> v2, loaded through git.
    static func diffV1V2(_ f: GitFixture) throws -> SummaryDiff {
        SummaryDiff(
            a: try SummaryDiff.load(revision: "v1", results: f.results),
            b: try SummaryDiff.load(revision: "v2", results: f.results))
    }

    /// The error thrown by `body`, as a DiffError.
    static func diffError(_ body: () throws -> Void) -> DiffError? {
        do { try body() } catch let e as DiffError { return e } catch { Issue.record("unexpected error \(error)") }
        return nil
    }
}

// MARK: - Tests

extension DiffTestSupport {
    @Suite("vaelab diff: summaries at two git revisions")
    struct DiffTests {
        @Test func rowsCarryValuesDeltaAndRelativeDelta() throws {
            try withFixture { f in
                let diff = try diffV1V2(f)
                let train = try #require(diff.fixtureRow(g1, "train_total"))
                #expect(train.a?.mean == 100 && train.b?.mean == 101 && train.a?.n == 3 && train.b?.std == 0.1)
                #expect(train.delta == 1 && train.relativePercent == 1)
                let single = try #require(diff.fixtureRow(g2, "test_total"))
                #expect(single.delta == 5 && single.relativePercent == 5.5556)
                // A = 0: no relative delta.
                let zero = try #require(diff.fixtureRow(g2, "active_units"))
                #expect(zero.delta == 2 && zero.relativePercent == nil)
                let same = try #require(diff.fixtureRow(g1, "test_kl"))
                #expect(same.delta == 0 && same.relativePercent == 0 && !same.changed)
            }
        }

        @Test func significanceNeedsMoreThanTwoStandardErrors() throws {
            try withFixture { f in
                let diff = try diffV1V2(f)
                // Δ = 1, SE = sqrt(0.1²/3 + 0.1²/3) ≈ 0.082: marked.
                let train = try #require(diff.fixtureRow(g1, "train_total"))
                #expect(train.significance == .significant)
                #expect(abs(train.standardError! - (0.02 / 3).squareRoot()) < 1e-6)
                // Δ = 1, SE = sqrt(1/3 + 1/3) ≈ 0.82, 2·SE ≈ 1.63: not marked.
                let test = try #require(diff.fixtureRow(g1, "test_total"))
                #expect(test.significance == .notSignificant)
                // n = 1: no std, no test, whatever the size of Δ.
                let single = try #require(diff.fixtureRow(g2, "test_total"))
                #expect(single.significance == .untestable && single.standardError == nil)
                #expect(diff.significantCount == 1)

                let lines = diff.text(labelA: "v1", labelB: "v2").split(separator: "\n")
                func line(_ group: String, _ metric: String) -> String {
                    String(lines.first { $0.contains(group) && $0.contains(" \(metric) ") } ?? "")
                }
                #expect(line(g1, "train_total").hasSuffix("*"))
                #expect(!line(g1, "test_total").contains("*"))
                #expect(line(g2, "test_total").hasSuffix("n=1") && !line(g2, "test_total").contains("*"))
            }
        }

        @Test func defaultsCompareHeadWithTheWorkingTree() throws {
            try withFixture { f in
                let head = try SummaryDiff.load(revision: "HEAD", results: f.results)
                let tree = try SummaryDiff.load(revision: SummaryDiff.worktree, results: f.results)
                let diff = SummaryDiff(a: head, b: tree)
                #expect(diff.changedOnly().rows.map(\.metric) == ["test_total"])
                // Δ = 3 > 2·SE ≈ 1.63 now.
                let row = try #require(diff.fixtureRow(g1, "test_total"))
                #expect(row.delta == 3 && row.significance == .significant)
                #expect(diff.addedGroups.isEmpty && diff.removedGroups.isEmpty)
                #expect(SummaryDiff.shortCommit(revision: "HEAD", results: f.results)?.count ?? 0 >= 7)
                #expect(SummaryDiff.shortCommit(revision: SummaryDiff.worktree, results: f.results) == nil)
            }
        }

        @Test func metricsOnOneSideAreShown() throws {
            try withFixture { f in
                let diff = try diffV1V2(f)
                let onlyB = try #require(diff.fixtureRow(g1, "knn_accuracy"))
                #expect(
                    onlyB.a == nil && onlyB.b?.mean == 0.9 && onlyB.delta == nil && onlyB.significance == .oneSided
                        && onlyB.changed)
                let onlyA = try #require(diff.fixtureRow(g1, "active_units"))
                #expect(onlyA.b == nil && onlyA.significance == .oneSided)
                let text = diff.text(labelA: "v1", labelB: "v2")
                #expect(text.split(separator: "\n").contains { $0.contains("knn_accuracy") && $0.hasSuffix("only B") })
                #expect(
                    text.split(separator: "\n").contains {
                        $0.contains("active_units") && $0.contains(g1) && $0.hasSuffix("only A")
                    })
            }
        }

        @Test func groupsAndStudiesAddedAndRemoved() throws {
            try withFixture { f in
                let diff = try diffV1V2(f)
                #expect(diff.addedStudies == ["beta"] && diff.removedStudies == ["width"])
                #expect(
                    diff.addedGroups.map { "\($0.study): \($0.label)" } == [
                        "beta: vae d=2 H=256 β=4", "reference: \(g4)",
                    ])
                #expect(
                    diff.removedGroups.map { "\($0.study): \($0.label)" } == [
                        "reference: \(g3)", "width: vae d=16 H=16 β=1",
                    ])
                // Rows only for groups on both sides.
                #expect(Set(diff.rows.map(\.group.label)) == [g1, g2])
                let text = diff.text(labelA: "v1", labelB: "v2")
                #expect(text.contains("groups added (only in B):\n  beta: vae d=2 H=256 β=4\n  reference: \(g4)\n"))
                #expect(text.contains("groups removed (only in A):\n  reference: \(g3)\n  width: vae d=16 H=16 β=1\n"))
                #expect(
                    text.contains("studies added (only in B):\n  beta\n")
                        && text.contains("studies removed (only in A):\n  width\n"))
            }
        }

        @Test func rowsAreSortedByStudyGroupAndMetricOrder() throws {
            try withFixture { f in
                let diff = try diffV1V2(f)
                #expect(
                    diff.rows.map { "\($0.group.label)/\($0.metric)" } == [
                        "\(g2)/test_total", "\(g2)/active_units",
                        "\(g1)/train_total", "\(g1)/test_kl", "\(g1)/test_total", "\(g1)/active_units",
                        "\(g1)/knn_accuracy",
                        "\(g1)/alpha", "\(g1)/zeta",
                    ])
            }
        }

        /// Group labels sort by the values of their numbers, fractions and exponents included.
        @Test func numbersInLabelsSortByValue() {
            let sorted = ["β=0.5", "β=8", "β=0.25", "β=1", "d=16", "d=2", "lr 0.001", "lr 1e-05", "lr 0.01", "x"]
                .sorted { SummaryDiff.naturalCompare($0, $1) < 0 }
            #expect(sorted == ["d=2", "d=16", "lr 1e-05", "lr 0.001", "lr 0.01", "x", "β=0.25", "β=0.5", "β=1", "β=8"])
            #expect(SummaryDiff.naturalCompare("vae d=2 H=256", "vae d=2 H=256") == 0)
            #expect(SummaryDiff.naturalCompare("a1.", "a1.5") < 0 && SummaryDiff.naturalCompare("v2", "v2e") < 0)
        }

        @Test func changedKeepsOnlyRowsThatDiffer() throws {
            try withFixture { f in
                let diff = try diffV1V2(f)
                let changed = diff.changedOnly()
                #expect(changed.rows.allSatisfy { $0.changed })
                #expect(
                    Set(changed.rows.map(\.metric)) == ["train_total", "test_total", "active_units", "knn_accuracy"])
                #expect(changed.rows.count == diff.rows.count - 3)  // test_kl, alpha, zeta unchanged
                #expect(changed.onlyChanged && changed.totalRows == diff.rows.count)
                // Group and study lists are kept.
                #expect(changed.addedGroups == diff.addedGroups && changed.removedStudies == diff.removedStudies)
                #expect(!changed.text(labelA: "v1", labelB: "v2").contains("test_kl"))
            }
        }

        @Test func textMarkdownAndJSONRenderings() throws {
            try withFixture { f in
                let diff = try diffV1V2(f)
                let text = diff.text(labelA: "v1 (abc)", labelB: "v2 (def)")
                #expect(text.hasPrefix("A: v1 (abc)\nB: v2 (def)\n"))
                #expect(text.contains("100.0000 ± 0.1000 (3)") && text.contains("+1.0000") && text.contains("+1.00%"))
                #expect(text.contains("90.0000 (1)") && text.contains("+5.5556%") == false && text.contains("+5.56%"))

                let md = diff.markdown(labelA: "v1", labelB: "v2")
                #expect(md.contains("## reference\n\n| group | metric | A | B | Δ | rel. | sig. |\n"))
                #expect(
                    md.contains(
                        """
                        | \(g1) | train_total | 100.0000 ± 0.1000 (3) | 101.0000 ± 0.1000 (3) | +1.0000 | +1.00% | \
                        **\\*** |
                        """
                    ))
                #expect(md.contains("| \(g2) | test_total | 90.0000 (1) | 95.0000 (1) | +5.0000 | +5.56% | n=1 |"))
                #expect(md.contains("## Groups removed (only in A)\n\n- reference: \(g3)\n"))

                let json = try diff.json(labelA: "v1", labelB: "v2")
                #expect(try diff.json(labelA: "v1", labelB: "v2") == json)
                // Loading and diffing again gives byte-identical output.
                #expect(try diffV1V2(f).json(labelA: "v1", labelB: "v2") == json)
                let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
                #expect(object["format"] as? String == SummaryDiff.jsonFormat)
                #expect(object["a"] as? String == "v1" && object["changed_only"] as? Bool == false)
                let rows = try #require(object["rows"] as? [[String: Any]])
                #expect(rows.count == diff.rows.count)
                let train = try #require(rows.first { $0["metric"] as? String == "train_total" })
                #expect(train["delta"] as? Double == 1 && train["significance"] as? String == "significant")
                #expect(train["group"] as? String == g1 && (train["a"] as? [String: Any])?["mean"] as? Double == 100)
                let knn = try #require(rows.first { $0["metric"] as? String == "knn_accuracy" })
                #expect(knn["a"] is NSNull && knn["delta"] is NSNull && knn["significance"] as? String == "one_sided")
                #expect((object["studies_added"] as? [String]) == ["beta"])
                #expect((object["groups_removed"] as? [[String: Any]])?.count == 2)
                // Keys are sorted: "a" < "b" < "changed_only" < "counts" < "format" < "groups_added" ...
                let keys = [
                    "\"a\"", "\"b\"", "\"changed_only\"", "\"counts\"", "\"format\"", "\"groups_added\"",
                    "\"groups_removed\"", "\"rows\"", "\"studies_added\"", "\"studies_removed\"",
                ]
                let positions = keys.map { json.range(of: "\n  \($0)")?.lowerBound }
                #expect(positions.allSatisfy { $0 != nil })
                #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())

                let changedJSON = try diff.changedOnly().json(labelA: "v1", labelB: "v2")
                let changedObject = try JSONSerialization.jsonObject(with: Data(changedJSON.utf8)) as? [String: Any]
                #expect(changedObject?["changed_only"] as? Bool == true)
                #expect((changedObject?["rows"] as? [Any])?.count == diff.changedOnly().rows.count)
            }
        }

        @Test func groupsAreMatchedByConfigAndSharedLabelsAreDisambiguated() throws {
            let a = summaryJSON([
                (
                    "s",
                    [
                        FixtureGroup(
                            label: "vae d=2", config: config("vae", d: 2), metrics: ["test_total": (1, nil, 1)])
                    ]
                )
            ])
            let b = summaryJSON([
                (
                    "s",
                    [
                        // Same config, new label: the same group.
                        FixtureGroup(
                            label: "vae d=2 renamed", config: config("vae", d: 2),
                            metrics: ["test_total": (2, nil, 1)]),
                        // Same label as the first, another config: a new group.
                        FixtureGroup(
                            label: "vae d=2 renamed", config: config("vae", d: 2, extra: ["iwae_samples": "10"]),
                            metrics: ["test_total": (3, nil, 1)]),
                    ]
                )
            ])
            let diff = SummaryDiff(
                a: try SummaryDiff.decode(a, revision: "A", path: "a.json"),
                b: try SummaryDiff.decode(b, revision: "B", path: "b.json"))
            #expect(diff.rows.count == 1 && diff.rows[0].delta == 1)
            #expect(diff.rows[0].group.display == "vae d=2 renamed [iwae_samples=100]")
            #expect(diff.addedGroups.map(\.display) == ["vae d=2 renamed [iwae_samples=10]"])
            #expect(diff.removedGroups.isEmpty)
            let identical = SummaryDiff(
                a: try SummaryDiff.decode(a, revision: "A", path: "a.json"),
                b: try SummaryDiff.decode(a, revision: "A", path: "a.json"))
            #expect(identical.isEmpty && identical.changedOnly().rows.isEmpty)
        }

        @Test func unknownRevisionIsNamed() throws {
            try withFixture { f in
                let e = diffError { _ = try SummaryDiff.load(revision: "no-such-tag", results: f.results) }
                #expect(e?.kind == .unknownRevision && e?.revision == "no-such-tag")
                #expect(e?.description.contains("'no-such-tag'") == true && e?.description.contains("\n") == false)
                #expect(
                    diffError { _ = try SummaryDiff.load(revision: "--all", results: f.results) }?.kind
                        == .unknownRevision)
            }
        }

        @Test func revisionWithoutSummaryNamesRevisionAndPath() throws {
            try withFixture { f in
                let e = diffError { _ = try SummaryDiff.load(revision: "nores", results: f.results) }
                #expect(e?.kind == .missingSummary && e?.path == GitFixture.summaryPath)
                #expect(e?.description == "revision 'nores' has no lab/results/summary.json")
            }
        }

        @Test func otherFormatVersionIsRejected() throws {
            try withFixture { f in
                let e = diffError { _ = try SummaryDiff.load(revision: "newformat", results: f.results) }
                #expect(e?.kind == .unsupportedFormat)
                #expect(
                    e?.description
                        == "newformat:lab/results/summary.json: format is \"vaelab.summary/2\", "
                        + "expected \"vaelab.summary/1\""
                )
            }
        }

        @Test func invalidJSONNamesRevisionFileAndPosition() throws {
            try withFixture { f in
                let e = diffError { _ = try SummaryDiff.load(revision: "badjson", results: f.results) }
                #expect(e?.kind == .invalidJSON && e?.revision == "badjson")
                #expect(
                    e?.description.hasPrefix("badjson:lab/results/summary.json: invalid JSON at line 2, column ")
                        == true)
                // In the working tree too.
                try f.write(Data("{\"format\": ".utf8))
                let w = diffError { _ = try SummaryDiff.load(revision: SummaryDiff.worktree, results: f.results) }
                #expect(w?.kind == .invalidJSON && w?.description.hasPrefix("working tree: ") == true)
            }
        }

        @Test func wrongShapeAndMissingFormatAreReported() throws {
            let noFormat = diffError {
                _ = try SummaryDiff.decode(Data("{\"studies\": []}".utf8), revision: "r", path: "p")
            }
            #expect(noFormat?.kind == .unsupportedFormat && noFormat?.description.contains("no format field") == true)
            let shape = diffError {
                _ = try SummaryDiff.decode(
                    Data("{\"format\": \"vaelab.summary/1\", \"units\": \"\", \"studies\": [{}]}".utf8), revision: "r",
                    path: "p")
            }
            #expect(
                shape?.kind == .invalidSummary
                    && shape?.description.hasPrefix("r:p: not a summary: studies[0].") == true)
        }

        @Test func missingWorkingTreeFileAndNoRepository() throws {
            try withFixture { f in
                try FileManager.default.removeItem(atPath: f.results + "/summary.json")
                let e = diffError { _ = try SummaryDiff.load(revision: SummaryDiff.worktree, results: f.results) }
                #expect(
                    e?.kind == .missingWorkingTreeFile
                        && e?.description.hasSuffix("summary.json does not exist") == true)
                // Committed revisions are still readable without the file on disk, even without the directory.
                try FileManager.default.removeItem(atPath: f.results)
                #expect(
                    try SummaryDiff.load(revision: "v1", results: f.results).studies.map(\.name) == [
                        "reference", "width",
                    ])
            }
            let outside = NSTemporaryDirectory() + "vaelab-diff-norepo-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: outside + "/results", withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: outside) }
            try summaryV1().write(to: URL(fileURLWithPath: outside + "/results/summary.json"))
            let e = diffError { _ = try SummaryDiff.load(revision: "HEAD", results: outside + "/results") }
            // (Only meaningful when the temporary directory is not itself inside a repository.)
            if e?.kind != nil {
                #expect(e?.kind == .notARepository && e?.description.contains("not inside a git repository") == true)
            }
            #expect(
                try SummaryDiff.load(revision: SummaryDiff.worktree, results: outside + "/results").studies.count == 2)
        }

        @Test func theProjectSummaryDecodes() throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            let path = root.appendingPathComponent("results/summary.json").path
            guard let data = FileManager.default.contents(atPath: path) else { return }
            let summary = try SummaryDiff.decode(data, revision: SummaryDiff.worktree, path: "results/summary.json")
            #expect(!summary.studies.isEmpty)
            let diff = SummaryDiff(a: summary, b: summary)
            #expect(diff.isEmpty && diff.rows.allSatisfy { $0.delta == 0 || $0.delta == nil })
        }
    }
}
