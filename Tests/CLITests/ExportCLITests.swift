import Foundation
import Testing

/// `vaelab export` on a real results tree (two tiny studies sharing a run), each format read by
/// the tool it is for: pandas, TensorBoard's EventAccumulator, DVC. `make setup` installs them;
/// a missing one skips its test unless VAELAB_REQUIRE_CONSUMERS=1 (CI), where it fails.
@Suite("vaelab export, read by pandas, TensorBoard and DVC", .serialized)
struct ExportCLITests {
    /// `resultsA` after study "a" (VAE and AE, d = 2, seeds 0 and 1); `results` after study "b"
    /// too (the VAE seed 0 again, and β = 2).
    static let trained: (root: String, resultsA: String, results: String)? = {
        let root = CLI.temporaryDirectory()
        let base =
            #""latent_dim": 2, "hidden_units": 16, "epochs": 2, "batch_size": 64, "#
            + #""train_limit": 256, "test_limit": 128, "iwae_samples": 3"#
        let specs = [
            #"{"name": "a", "base": {\#(base)}, "grid": {"model": ["vae", "ae"], "seed": [0, 1]}}"#,
            #"{"name": "b", "base": {\#(base)}, "grid": {"beta": [1, 2]}}"#,
        ]
        for (i, spec) in specs.enumerated() {
            let path = "\(root)/\(i).json"
            guard (try? spec.write(toFile: path, atomically: true, encoding: .utf8)) != nil,
                (try? CLI.run(["run", path, "--results", root + "/results"]))?.status == 0
            else { return nil }
            if i == 0, (try? SlurmTests.shell(["cp", "-r", root + "/results", root + "/resultsA"]))?.status != 0 {
                return nil
            }
        }
        return (root, root + "/resultsA", root + "/results")
    }()

    static let required = ProcessInfo.processInfo.environment["VAELAB_REQUIRE_CONSUMERS"] == "1"

    static func has(_ module: String) -> Bool {
        required || ((try? SlurmTests.shell(["python3", "-c", "import \(module)"]))?.status == 0)
    }

    static func export(_ results: String, _ out: String, _ extra: [String] = []) throws {
        let r = try CLI.run(["export", "--results", results, "--out", out] + extra)
        #expect(r.status == 0 && r.stdout.hasPrefix("wrote "), "\(r.stderr)")
    }

    static func python(_ script: String, _ arguments: [String]) throws {
        let r = try SlurmTests.shell(["python3", "-c", script] + arguments)
        #expect(r.status == 0, "\(r.output)")
    }

    /// groupby over final.csv / final.jsonl gives summary.json's mean, std and n for every cell.
    @Test(.enabled(if: has("pandas"), "pandas is missing (make setup installs it)"))
    func pandasReproducesTheSummary() throws {
        let t = try #require(Self.trained)
        try Self.export(t.results, t.root + "/export")
        try Self.python(
            #"""
            import json, sys, pandas as pd
            results, out = sys.argv[1:3]
            summary = json.load(open(results + "/summary.json"))
            for kind, read in (("csv", pd.read_csv), ("jsonl", lambda p: pd.read_json(p, lines=True))):
                g = read(f"{out}/final.{kind}").groupby(["study", "group", "metric"]).value.agg(["mean", "std", "count"])
                n = 0
                for study in summary["studies"]:
                    for group in study["groups"]:
                        for metric, s in group["metrics"].items():
                            row = g.loc[(study["name"], group["label"], metric)]
                            assert abs(row["mean"] - s["mean"]) <= 5.1e-5, (kind, metric, row["mean"], s)
                            assert s["std"] is None or abs(row["std"] - s["std"]) <= 5.1e-5, (kind, metric, row, s)
                            assert row["count"] == s["n"], (kind, metric)
                            n += 1
                assert n == len(g) and n > 30, (n, len(g))
                curves = read(f"{out}/curves.{kind}")
                last = curves[(curves.epoch == 2) & (curves.split == "test") & (curves.metric == "total")]
                final = read(f"{out}/final.{kind}")
                final = final[final.metric == "test_total"]
                assert sorted(last.value) == sorted(final.value) and len(last) == 4 + 2, (kind, len(last))
                assert list(curves.columns[:4]) == ["run_id", "study", "group", "model"]
            """#, [t.results, t.root + "/export"])
    }

    /// EventAccumulator lists exactly the run's tags, and each value is metrics.json's as float32.
    @Test(.enabled(if: has("tensorboard"), "tensorboard is missing (make setup installs it)"))
    func tensorBoardReadsEveryRunsTagsAndValues() throws {
        let t = try #require(Self.trained)
        let out = t.root + "/export-tb"
        try Self.export(t.results, out, ["--format", "tensorboard"])
        let runs = try FileManager.default.contentsOfDirectory(atPath: t.results + "/runs").sorted()
        #expect(try FileManager.default.contentsOfDirectory(atPath: out + "/tensorboard").sorted() == runs)
        for id in runs {
            try Self.python(
                #"""
                import json, sys, numpy as np
                from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
                run_dir, metrics, run_id = sys.argv[1:4]
                m = json.load(open(metrics))
                ea = EventAccumulator(run_dir, size_guidance={"scalars": 0, "tensors": 0})
                ea.Reload()
                parts = ["recon", "kl", "total"] if m["final"]["test"]["kl"] is not None else ["recon", "total"]
                curves = [f"{s}/{p}" for s in ("train", "test") for p in parts]
                f = m["final"]
                finals = {f"{s}_{p}": f[s][p] for s in ("train", "test") for p in parts}
                finals.update(test_nll_iwae=f["test_nll_iwae"], active_units=f["active_units"],
                              knn_accuracy=f["knn_accuracy"])
                finals = {k: v for k, v in finals.items() if v is not None}
                tags = ea.Tags()
                assert sorted(tags["scalars"]) == sorted(curves + ["final/" + k for k in finals]), tags
                assert tags["tensors"] == ["config"], tags
                f32 = lambda x: float(np.float32(x))
                for tag in curves:
                    split, part = tag.split("/")
                    got = [(e.step, e.value) for e in ea.Scalars(tag)]
                    assert got == [(r["epoch"], f32(r[split][part])) for r in m["epochs"]], (tag, got)
                for k, v in finals.items():
                    assert [(e.step, e.value) for e in ea.Scalars("final/" + k)] == [(2, f32(v))], k
                assert run_id in ea.Tensors("config")[0].tensor_proto.string_val[0].decode()
                """#, ["\(out)/tensorboard/\(id)", "\(t.results)/runs/\(id)/metrics.json", id])
        }
    }

    /// In a git repository with `dvc init`: `dvc metrics diff` between a commit of the export
    /// after study "a" and one after "b" gives both summaries' values; `dvc plots show` draws.
    @Test(.enabled(if: has("dvc"), "dvc is missing (make setup installs it)"))
    func dvcDiffsTheSummariesOfTwoCommits() throws {
        let t = try #require(Self.trained)
        let repo = t.root + "/repo"
        let env = [
            "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
        ]
        func sh(_ command: String) throws {
            let r = try SlurmTests.shell(["sh", "-c", "cd '\(repo)' && \(command)"], environment: env)
            #expect(r.status == 0, "\(command): \(r.output)")
        }
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try sh("git init -q && python3 -m dvc init -q && git commit -qm init")
        try Self.export(t.resultsA, repo + "/export", ["--format", "dvc"])
        try sh("git add -A && git commit -qm a")
        try Self.export(t.results, repo + "/export", ["--format", "dvc"])
        try sh("git add -A && git commit -qm b")
        try sh("python3 -m dvc metrics diff HEAD~1 HEAD --all --json > diff.json")
        try sh("python3 -m dvc metrics show --json > show.json && python3 -m dvc plots show --json > plots.json")
        try Self.python(
            #"""
            import json, sys
            a, b, repo = (json.load(open(p)) for p in (sys.argv[1] + "/summary.json", sys.argv[2] + "/summary.json", sys.argv[3] + "/diff.json"))
            root = sys.argv[3]
            def flat(summary):
                return {".".join([s["name"], g["label"], m, k]): v for s in summary["studies"] for g in s["groups"]
                        for m, st in g["metrics"].items() for k, v in st.items() if v is not None}
            fa, fb = flat(a), flat(b)
            diff = repo["export/dvc/metrics.json"]
            assert set(diff) == set(fa) | set(fb), set(diff) ^ (set(fa) | set(fb))
            for key, d in diff.items():
                assert d.get("old") == fa.get(key) and d.get("new") == fb.get(key), (key, d)
            assert any(k.startswith("b.") for k in diff) and not any(k.startswith("b.") for k in fa)
            show = json.load(open(root + "/show.json"))[""]["data"]["export/dvc/metrics.json"]["data"]
            assert {".".join([s, g, m, k]): v for s, gs in show.items() for g, ms in gs.items()
                    for m, st in ms.items() for k, v in st.items()} == fb
            plots = json.load(open(root + "/plots.json"))
            assert {"a test total", "b test KL"} <= set(plots["data"]), plots.keys()
            """#, [t.resultsA, t.results, repo])
    }

    @Test func badFormatAndForeignDirectoryAreOneLineAndWriteNothing() throws {
        let t = try #require(Self.trained)
        let out = t.root + "/bad"
        let r = try CLI.run(["export", "--results", t.results, "--out", out, "--format", "csv,parquet"])
        #expect(r.status != 0 && r.stderr.contains("--format: unknown format \"parquet\""), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let foreign = try CLI.run(["export", "--results", t.results, "--out", t.root + "/results"])
        #expect(foreign.status == 2 && foreign.stderr.contains("not written by vaelab export"), "\(foreign.stderr)")
        #expect(!FileManager.default.fileExists(atPath: t.root + "/results/final.csv"))
    }
}
