import Foundation
import Testing

/// End-to-end tests: the real `vaelab` binary built next to these tests, on tiny subsets.
enum CLI {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var binary: String {
        #if DEBUG
            return root.appendingPathComponent(".build/debug/vaelab").path
        #else
            return root.appendingPathComponent(".build/release/vaelab").path
        #endif
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// `vaelab arguments…` from the repository root, one BLAS thread, not started yet (for a test
    /// that wires its streams or signals it itself).
    static func process(_ arguments: [String], environment: [String: String] = [:]) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = root
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        return process
    }

    /// Runs `vaelab arguments…` to its end, collecting both streams.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = process(arguments, environment: environment)
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting so a chatty child never blocks on a full pipe.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Writes a spec as `dir`/spec.json and returns its path.
    static func writeSpec(_ dir: String, _ json: String) throws -> String {
        let path = dir + "/spec.json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "vaelab-cli-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A spec's `base` fields for a one-epoch run on 256 training and 128 test images (the spec
    /// form of `tinyTrain`, one epoch); a spec adds its own after them.
    static let tinyBase =
        #""latent_dim": 2, "hidden_units": 16, "epochs": 1, "batch_size": 64, "train_limit": 256, "test_limit": 128"#

    static let tinyTrain = [
        "train", "--model", "vae", "--latent-dim", "2", "--hidden-units", "16", "--epochs", "2",
        "--batch-size", "64", "--train-limit", "256", "--test-limit", "128", "--iwae-samples", "3",
    ]
}

@Suite("vaelab CLI end to end", .serialized)
struct CLITests {
    @Test func versionAndHelp() throws {
        let v = try CLI.run(["--version"])
        #expect(v.status == 0 && v.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let h = try CLI.run(["--help"])
        #expect(h.status == 0 && h.stdout.contains("train") && h.stdout.contains("bench"))
    }

    /// Read as a newcomer would: every command's help has examples, and every option that takes a
    /// value shows its default or says what leaving it out means (from swift-argument-parser's
    /// own description of the commands, so a new option is checked too).
    @Test func everyCommandsHelpNamesItsDefaultsAndExamples() throws {
        let dump = try CLI.run(["--experimental-dump-help"])
        let root = try #require(
            (try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])?["command"]
                as? [String: Any])
        var commands = 0
        func check(_ command: [String: Any], _ path: String) {
            guard command["commandName"] as? String != "help" else { return }
            commands += 1
            #expect((command["discussion"] as? String)?.contains("Examples:") == true, "\(path): no examples")
            for argument in command["arguments"] as? [[String: Any]] ?? [] where argument["kind"] as? String == "option"
            {
                let name = ((argument["names"] as? [[String: Any]])?.first?["name"] as? String) ?? "?"
                let stated = (argument["abstract"] as? String)?.contains("default") == true
                #expect(argument["defaultValue"] != nil || stated, "\(path) --\(name): no default named")
            }
            for sub in command["subcommands"] as? [[String: Any]] ?? [] {
                check(sub, path + " " + (sub["commandName"] as? String ?? "?"))
            }
        }
        check(root, "vaelab")
        #expect(commands == 15)
        let spec = try CLI.run(["help", "spec"])
        #expect(spec.status == 0 && spec.stdout.contains("binarize: one of \"none\", \"dynamic\"; default none"))
        #expect(spec.stdout.split(separator: "\n").allSatisfy { $0.count <= 80 }, "\(spec.stdout)")
    }

    /// The completion scripts swift-argument-parser generates know every subcommand; bash parses its own.
    @Test func shellCompletionsCoverEverySubcommand() throws {
        for shell in ["bash", "zsh", "fish"] {
            let r = try CLI.run(["--generate-completion-script", shell])
            #expect(r.status == 0, "\(shell): \(r.stderr)")
            for command in ["run", "train", "export", "spec", "slurm", "submit"] {
                #expect(r.stdout.contains(command), "\(shell) completion lacks \(command)")
            }
        }
        let script = CLI.temporaryDirectory() + "/vaelab.bash"
        try CLI.run(["--generate-completion-script", "bash"]).stdout.write(
            toFile: script, atomically: true, encoding: .utf8)
        #expect(try SlurmTests.shell(["bash", "-n", script]).status == 0)
    }

    @Test func trainWritesARunDirectoryAndIsReproducible() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let a = try CLI.run(CLI.tinyTrain + ["--out", tmp + "/a"])
        #expect(a.status == 0, "\(a.stderr)")
        for file in ["config.json", "metrics.json", "timing.json", "model.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: tmp + "/a/" + file), "missing \(file)")
        }
        #expect(a.stderr.contains("epoch 1/2") && a.stderr.contains("epoch 2/2"))
        let b = try CLI.run(CLI.tinyTrain + ["--out", tmp + "/b"])
        #expect(b.status == 0)
        let ma = try Data(contentsOf: URL(fileURLWithPath: tmp + "/a/metrics.json"))
        let mb = try Data(contentsOf: URL(fileURLWithPath: tmp + "/b/metrics.json"))
        #expect(ma == mb, "metrics.json differs between two identical runs")
        let config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tmp + "/a/config.json")))
            as? [String: Any]
        #expect(
            config?["latent_dim"] as? Int == 2 && config?["batch_size"] as? Int == 64 && config?["beta"] as? Double == 1
        )
        // No temporary files left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: tmp + "/a").filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
    }

    /// A continuous-Bernoulli run: the field in config.json and the run id, finite metrics whose
    /// recon differs from the Bernoulli run's by the log-normaliser, and a run that resumes to
    /// the same bytes as `run` gives.
    @Test func continuousBernoulliRunIsReadableAndDistinct() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(
            tmp,
            #"""
            {"name": "cb", "base": {\#(CLI.tinyBase), "iwae_samples": 3},
             "grid": {"likelihood": ["bernoulli", "continuous_bernoulli"]}}
            """#)
        let run = try CLI.run(["run", spec, "--results", tmp + "/results"])
        #expect(run.status == 0, "\(run.stderr)")
        let ids = try FileManager.default.contentsOfDirectory(atPath: tmp + "/results/runs").sorted()
        let cb = try #require(ids.first { $0.contains("-cb-s0-") }, "\(ids)")
        let bernoulli = try #require(ids.first { !$0.contains("-cb-") })
        func json(_ id: String, _ file: String) throws -> [String: Any] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(tmp)/results/runs/\(id)/\(file)"))
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
        #expect(try json(cb, "config.json")["likelihood"] as? String == "continuous_bernoulli")
        #expect(try json(bernoulli, "config.json")["likelihood"] == nil, "the default is left out")
        let final = try #require(try json(cb, "metrics.json")["final"] as? [String: Any])
        let nll = try #require(final["test_nll_iwae"] as? Double)
        #expect(nll.isFinite)
        let summary = try String(contentsOfFile: tmp + "/results/summary.md", encoding: .utf8)
        #expect(summary.contains("cont. Bernoulli") && summary.contains("not comparable"), "\(summary)")
        #expect(FileManager.default.fileExists(atPath: "\(tmp)/results/runs/\(cb)/figures/samples.png"))
        // The study's curves get a row of panels per likelihood (their losses are on other scales).
        #expect(try CLI.run(["report", "--results", tmp + "/results", "--out", tmp + "/report"]).status == 0)
        let report = try String(contentsOfFile: tmp + "/report/REPORT.md", encoding: .utf8)
        #expect(report.contains("2 runs in 1 study: 2 done"))
        func pngHeight(_ name: String) throws -> Int {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(tmp)/report/figures/\(name)")))
            return bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }  // IHDR height, big-endian
        }
        // The study's: title, subtitle (what both share) and a legend line; a run's: no subtitle.
        #expect(try pngHeight("cb-curves.png") == 78 + 2 * 432)
        #expect(try pngHeight("\(bernoulli)-curves.png") == 58 + 432)
    }

    /// A binarised run: its id and fingerprint say so, its NLL carries a standard error, and the
    /// report sets it beside the literature's binarised-MNIST numbers.
    @Test func binarisedRunIsComparedWithTheLiterature() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(
            tmp,
            #"""
            {"name": "bin", "base": {\#(CLI.tinyBase), "iwae_samples": 3, "binarize": "dynamic"}}
            """#)
        let run = try CLI.run(["run", spec, "--results", tmp + "/results"])
        #expect(run.status == 0, "\(run.stderr)")
        let id = try #require(try FileManager.default.contentsOfDirectory(atPath: tmp + "/results/runs").first)
        #expect(id.hasPrefix("vae-mnist-bin-d2-"), "\(id)")
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(tmp)/results/runs/\(id)/metrics.json"))
        let final = try #require(
            (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["final"] as? [String: Any])
        #expect((final["test_nll_iwae_stderr"] as? Double).map { $0 > 0 } == true)
        let report = try CLI.run(["report", "--results", tmp + "/results", "--out", tmp + "/report"])
        #expect(report.status == 0, "\(report.stderr)")
        let md = try String(contentsOfFile: tmp + "/report/REPORT.md", encoding: .utf8)
        for text in ["beside the literature", "86.76", "84.78", "89.78", "k = 3, 128 test images", "binarised"] {
            #expect(md.contains(text), "REPORT.md lacks \(text)")
        }
    }

    /// A description with HTML, a `javascript:` link, pipes, emphasis and line breaks is inert
    /// text in REPORT.md and summary.md, as a real Markdown renderer (Python-Markdown) shows.
    @Test func hostileDescriptionRendersAsInertText() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let hostile =
            #"<script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror=alert(3)> a | b *em* \n# heading"#
        let spec = try CLI.writeSpec(
            tmp,
            #"{"name": "x", "description": "\#(hostile)", "base": {"latent_dim": 2, "hidden_units": 16, "epochs": 1, "#
                + #""batch_size": 64, "train_limit": 128, "test_limit": 64, "iwae_samples": 2}}"#)
        #expect(try CLI.run(["run", spec, "--results", tmp + "/results"]).status == 0)
        #expect(try CLI.run(["report", "--results", tmp + "/results", "--out", tmp + "/report"]).status == 0)
        let report = try String(contentsOfFile: tmp + "/report/REPORT.md", encoding: .utf8)
        #expect(report.contains("1 run in 1 study: 1 done"))  // no "1 runs", no "1 studies"
        let render = #"""
            import markdown, sys
            for path in sys.argv[1:]:
                html = markdown.markdown(open(path).read(), extensions=["tables"])
                for bad in ("<script", "<img src=x", "javascript:alert(2)\"", "<h1>heading", "<em>em</em>"):
                    assert bad not in html, (path, bad)
                assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
            """#
        let check = try SlurmTests.shell(
            ["python3", "-c", render, tmp + "/report/REPORT.md", tmp + "/results/summary.md"])
        #expect(check.status == 0, "\(check.output)")
        let summary = try String(contentsOfFile: tmp + "/results/summary.md", encoding: .utf8)
        let table = summary.split(separator: "\n").filter { $0.hasPrefix("| vae") }
        #expect(table.count == 1 && table[0].split(separator: "|", omittingEmptySubsequences: false).count == 13)
    }

    /// `--threads 2` splits each batch over two threads: the same bits run after run, the same
    /// losses as one thread up to float rounding, and the thread count in timing.json.
    /// `train` runs the same lifecycle as `run` (RunJob): killed after an epoch checkpoint it
    /// resumes to the uninterrupted run's bytes, and a directory another process holds is refused.
    @Test func trainResumesFromItsCheckpointAndRespectsTheLock() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let whole = try CLI.run(CLI.tinyTrain + ["--out", tmp + "/whole"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let killed = try CLI.run(
            CLI.tinyTrain + ["--out", tmp + "/resumed"], environment: ["VAELAB_FAULT_KILL": "epoch:1"])
        #expect(killed.status != 0)
        #expect(FileManager.default.fileExists(atPath: tmp + "/resumed/checkpoint.safetensors"))
        let resumed = try CLI.run(CLI.tinyTrain + ["--out", tmp + "/resumed"])
        #expect(resumed.status == 0 && resumed.stderr.contains("resuming after epoch 1"), "\(resumed.stderr)")
        for name in ["metrics.json", "model.safetensors"] {
            #expect(
                FileManager.default.contents(atPath: tmp + "/whole/" + name)
                    == FileManager.default.contents(atPath: tmp + "/resumed/" + name), "\(name) differs")
        }
        #expect(!FileManager.default.fileExists(atPath: tmp + "/resumed/checkpoint.safetensors"))
        // Its wall time counts the epoch trained before the kill too.
        let timing =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: tmp + "/resumed/timing.json"))) as? [String: Any] ?? [:]
        let epochs = (timing["epoch_seconds"] as? [Double] ?? []).reduce(0, +)
        let total = timing["total_seconds"] as? Double ?? 0
        #expect(total >= epochs + (timing["evaluation_seconds"] as? Double ?? .infinity), "\(timing)")
        // Killed during the final evaluation: the last epoch's checkpoint resumes at the evaluation,
        // without training that epoch again, to the same bytes.
        let evaluating = try CLI.run(
            CLI.tinyTrain + ["--out", tmp + "/evaluated"], environment: ["VAELAB_FAULT_KILL": "evaluation:1"])
        #expect(evaluating.status != 0)
        let evaluated = try CLI.run(CLI.tinyTrain + ["--out", tmp + "/evaluated"])
        #expect(evaluated.status == 0 && evaluated.stderr.contains("resuming after epoch 2"), "\(evaluated.stderr)")
        #expect(!evaluated.stderr.contains("epoch 2/2:"), "the last epoch was trained again: \(evaluated.stderr)")
        #expect(
            FileManager.default.contents(atPath: tmp + "/whole/metrics.json")
                == FileManager.default.contents(atPath: tmp + "/evaluated/metrics.json"))
        // Another process holds the directory's lock: exit 3, nothing changed.
        let before = FileManager.default.contents(atPath: tmp + "/whole/metrics.json")
        let lockedOut = try CLI.shell(
            "flock \(tmp)/whole/.lock sh -c '\(CLI.binary) \(CLI.tinyTrain.joined(separator: " ")) --out \(tmp)/whole; test $? -eq 3'"
        )
        #expect(lockedOut.status == 0, "a held lock did not give exit status 3: \(lockedOut.stderr)")
        #expect(FileManager.default.contents(atPath: tmp + "/whole/metrics.json") == before)
    }

    /// On two threads too, a run killed after an epoch resumes to the uninterrupted run's bytes:
    /// the second thread's replica reads the weights restored into the model.
    @Test func trainOnTwoThreadsResumesToTheSameBytes() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let args = CLI.tinyTrain + ["--threads", "2", "--out"]
        #expect(try CLI.run(args + [tmp + "/whole"]).status == 0)
        let killed = try CLI.run(args + [tmp + "/resumed"], environment: ["VAELAB_FAULT_KILL": "epoch:1"])
        #expect(killed.status != 0)
        let resumed = try CLI.run(args + [tmp + "/resumed"])
        #expect(resumed.status == 0 && resumed.stderr.contains("resuming after epoch 1"), "\(resumed.stderr)")
        for name in ["metrics.json", "model.safetensors"] {
            #expect(
                FileManager.default.contents(atPath: tmp + "/whole/" + name)
                    == FileManager.default.contents(atPath: tmp + "/resumed/" + name), "\(name) differs")
        }
    }

    @Test func trainOnTwoThreadsIsReproducibleAndMatchesOneThread() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        for (name, threads) in [("one", "1"), ("two", "2"), ("two-again", "2")] {
            let r = try CLI.run(CLI.tinyTrain + ["--threads", threads, "--out", tmp + "/" + name])
            #expect(r.status == 0, "\(r.stderr)")
        }
        func file(_ run: String, _ name: String) throws -> Data {
            try Data(contentsOf: URL(fileURLWithPath: tmp + "/\(run)/\(name)"))
        }
        #expect(try file("two", "metrics.json") == file("two-again", "metrics.json"))
        func finalTotal(_ run: String) throws -> Double {
            let metrics = try JSONSerialization.jsonObject(with: file(run, "metrics.json")) as? [String: Any]
            let test = (metrics?["final"] as? [String: Any])?["test"] as? [String: Any]
            return try #require(test?["total"] as? Double)
        }
        let one = try finalTotal("one")
        let two = try finalTotal("two")
        #expect(abs(one - two) <= 1e-3 * one, "test total \(one) on one thread, \(two) on two")
        let timing = try JSONSerialization.jsonObject(with: file("two", "timing.json")) as? [String: Any]
        #expect((timing?["provenance"] as? [String: Any])?["blas_threads"] as? Int == 2)
        // Out of 1...64 (65 would be 64 replicas and threads past any use): one line, nothing written.
        for count in ["0", "65"] {
            let bad = try CLI.run(CLI.tinyTrain + ["--threads", count, "--out", tmp + "/bad"])
            #expect(bad.status != 0 && bad.stderr.contains("--threads"))
            #expect(!FileManager.default.fileExists(atPath: tmp + "/bad"))
            let bench = try CLI.run(["bench", "--threads", count])
            #expect(bench.status != 0 && bench.stderr.contains("--threads: expected an integer in 1...64"))
        }
    }

    @Test(arguments: [
        (["--batch-size", "0"], "--batch-size"),
        (["--latent-dim", "-3"], "--latent-dim"),
        (["--learning-rate", "nan"], "--learning-rate"),
        (["--dataset", "cifar"], "--dataset"),
        (["--model", "gan"], "--model"),
    ])
    func badFlagsFailCleanlyAndWriteNothing(_ flags: [String], _ mention: String) throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let r = try CLI.run(["train", "--epochs", "1", "--out", tmp + "/run"] + flags)
        #expect(r.status != 0)
        #expect(r.stderr.contains(mention), "stderr: \(r.stderr)")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Backtrac"))
        #expect(!FileManager.default.fileExists(atPath: tmp + "/run"))
    }

    @Test func missingDataIsOneClearLine() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let r = try CLI.run(["train", "--epochs", "1", "--data-dir", tmp + "/nowhere", "--out", tmp + "/run"])
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n")
        #expect(
            lines.count == 1 && lines[0].contains("nowhere") && lines[0].contains("train-images-idx3-ubyte"),
            "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: tmp + "/run"))
    }

    @Test(arguments: ["16,x", "", "16,,256", "0"])
    func benchRejectsBadWidths(_ widths: String) throws {
        let r = try CLI.run(["bench", "--hidden-units", widths, "--steps", "1"])
        #expect(r.status != 0 && r.stderr.contains("--hidden-units"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test func benchJSONHasTheDocumentedKeys() throws {
        let r = try CLI.run(["bench", "--json", "--steps", "1", "--hidden-units", "16", "--iwae-samples", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let models = object?["models"] as? [[String: Any]] ?? []
        #expect(models.count == 4)
        // One core's FMA peak (x86-64 with FMA): above what OpenBLAS's sgemm reaches, up to noise.
        #if arch(x86_64)
            let (fmaPeak, sgemm) = (
                object?["fma_peak_gflops"] as? Double ?? .nan, object?["sgemm_gflops"] as? Double ?? .nan
            )
            #expect(fmaPeak > 0.9 * sgemm, "\(fmaPeak) \(sgemm)")
            // The fused col2im's speed against GEMM then col2im: timed only where the sweep can run
            // (vaelab's AVX-512 kernels), a ratio of two timings of the same work.
            if let speedup = object?["fused_col2im_speedup"] as? Double {
                #expect(object?["kernel_vector_bits"] as? Int == 512 && speedup > 0.1 && speedup < 10, "\(speedup)")
            }
        #endif
        for m in models {
            for key in ["images_per_second", "gflops", "sgemm_gflops", "efficiency", "layers"] {
                #expect(m[key] != nil, "missing \(key)")
            }
            // The step's GEMMs timed alone: positive, and a ceiling above the step's own efficiency
            // up to noise (both measured in this run), and under one core's FMA peak up to noise (a
            // share of the sgemm peak: past 100 % where vaelab's kernels outrun OpenBLAS's, as
            // past 200 % on an AVX-512 core whose OpenBLAS is forced onto its AVX2 kernel).
            let (alone, ceiling) = (m["gemm_alone_ms"] as? Double ?? .nan, m["efficiency_ceiling"] as? Double ?? .nan)
            let (efficiency, modelPeak) = (m["efficiency"] as? Double ?? .nan, m["sgemm_gflops"] as? Double ?? .nan)
            let limit = (object?["fma_peak_gflops"] as? Double).map { 1.25 * $0 / modelPeak } ?? 2
            #expect(alone > 0 && ceiling > 0.5 * efficiency && ceiling < limit, "\(alone) \(ceiling) \(efficiency)")
            // The evaluation's share of the peak: its images/s times the forward FLOPs per image
            // (a third of the step's, less conv1's skipped input gradient) over the peak.
            let (evalRate, evalShare) = (
                m["eval_images_per_second"] as? Double ?? .nan, m["eval_efficiency"] as? Double ?? .nan
            )
            let (stepFLOP, peak) = (m["gflop_per_step"] as? Double ?? .nan, m["sgemm_gflops"] as? Double ?? .nan)
            let forwardPerImage = (stepFLOP * 1e9 / 128 + 2 * 196 * 32 * 9) / 3
            #expect(abs(evalShare - evalRate * forwardPerImage / 1e9 / peak) < 1e-6 * evalShare, "\(evalShare)")
            // Those GEMMs by shape: distinct shapes whose calls add up to gemm_alone_ms, each rate
            // its FLOPs over its time.
            let gemms = m["gemms"] as? [[String: Any]] ?? []
            var sum = 0.0
            var shapes: Set<[Int]> = []
            for g in gemms {
                let shape = g["shape"] as? [String: Any] ?? [:]
                let (mm, n, k) = (shape["m"] as? Int ?? 0, shape["n"] as? Int ?? 0, shape["k"] as? Int ?? 0)
                let trans = [shape["trans_a"] as? Bool ?? false, shape["trans_b"] as? Bool ?? false].map { $0 ? 1 : 0 }
                shapes.insert([mm, n, k] + trans)
                let (calls, ms) = (g["calls"] as? Int ?? 0, g["ms_per_call"] as? Double ?? .nan)
                let gflops = g["gflops"] as? Double ?? .nan
                #expect(calls > 0 && ms > 0 && abs(gflops - Double(2 * mm * n * k) / ms / 1e6) < 1e-6 * gflops)
                sum += Double(calls) * ms
            }
            #expect(!gemms.isEmpty && shapes.count == gemms.count && abs(sum - alone) < 1e-6 * alone, "\(sum) \(alone)")
            // The IWAE bound's timing: VAEs only (an AE has no posterior to sample).
            let bound = m["iwae_bound"] as? [String: Any]
            #expect((bound != nil) == (m["kind"] as? String == "vae"), "\(m["name"] ?? "?")")
            guard let bound else { continue }
            #expect(bound["samples"] as? Int == 3 && bound["images"] as? Int == 128)
            let (rate, decodes) = (
                bound["images_per_second"] as? Double ?? .nan, bound["decodes_per_second"] as? Double ?? .nan
            )
            #expect(rate > 0 && abs(decodes - 3 * rate) < 1e-6 * decodes, "\(rate) \(decodes)")
            let layers = bound["layers"] as? [[String: Any]] ?? []
            #expect(
                layers.contains {
                    $0["layer"] as? String == "decoder.deconv2" && ($0["forward_ms"] as? Double ?? 0) > 0
                })
        }
        #expect(object?["blas_core"] is String)
        #expect(object?["data"] as? String == "mnist")  // the default: real batches, as the peers get
        // --jobs 2 (the default): two runs side by side in the one process, against one alone.
        let parallel = object?["parallel"] as? [[String: Any]] ?? []
        #expect(
            parallel.count == 1 && parallel.first?["name"] as? String == "vae-d16-h16"
                && parallel.first?["jobs"] as? Int == 2)
        for key in ["single_images_per_second", "parallel_images_per_second", "speedup", "sgemm_speedup"] {
            let value = parallel.first?[key] as? Double ?? .nan
            #expect(value.isFinite && value > 0, "\(key) = \(value)")
        }
    }

    @Test func benchJobsOneAndIWAESamplesZeroSkipTheirPartsAndBadValuesAreRejected() throws {
        let r = try CLI.run(
            ["bench", "--json", "--steps", "1", "--hidden-units", "16", "--jobs", "1", "--iwae-samples", "0"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect((object?["parallel"] as? [Any])?.isEmpty == true)
        #expect((object?["models"] as? [[String: Any]])?.allSatisfy { $0["iwae_bound"] == nil } == true)
        let bad = try CLI.run(["bench", "--steps", "1", "--jobs", "0"])
        #expect(bad.status != 0 && bad.stderr.contains("--jobs") && bad.stdout.isEmpty, "\(bad.stderr)")
        let samples = try CLI.run(["bench", "--steps", "1", "--iwae-samples", "-1"])
        #expect(samples.status != 0 && samples.stderr.contains("--iwae-samples") && samples.stdout.isEmpty)
    }
}

@Suite("vaelab run end to end", .serialized)
struct RunCLITests {
    @Test func badSpecExitsTwoAndWritesNothing() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(tmp, #"{"name": "bad", "grid": {"beta": [1, "two"]}}"#)
        let r = try CLI.run(["run", spec, "--results", tmp + "/results"])
        #expect(r.status == 2)
        #expect(
            r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
                == "vaelab run: \(spec): grid.beta[1]: expected a number, got \"two\"")
        #expect(!FileManager.default.fileExists(atPath: tmp + "/results"))
    }

    @Test func dryRunPrintsThePlanAndWritesNothing() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let r = try CLI.run(["run", "experiments/reference.json", "--dry-run", "--results", tmp + "/results"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("plan: 12 runs from 1 study") && r.stdout.contains("estimate: about"))
        #expect(!FileManager.default.fileExists(atPath: tmp + "/results"))
    }

    /// `vaelab run > log 2>&1` (nohup, a Slurm job): the plan (stdout) comes before the progress
    /// (stderr) and the final count after it, as on a terminal, not stdout's lines at exit.
    @Test func aLogOfBothStreamsKeepsTheirOrder() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(
            tmp,
            #"""
            {"name": "log", "base": {\#(CLI.tinyBase), "iwae_samples": 0}}
            """#)
        let log = tmp + "/run.log"
        #expect(FileManager.default.createFile(atPath: log, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = CLI.process(["run", spec, "--results", tmp + "/results"])
        (process.standardOutput, process.standardError) = (handle, handle)
        try process.run()
        process.waitUntilExit()
        try handle.close()
        #expect(process.terminationStatus == 0)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let at = { (prefix: String) in lines.firstIndex { $0.contains(prefix) } ?? -1 }
        let (plan, started, done, count) = (at("plan: 1 run"), at(": started"), at(": done in"), at("1 trained"))
        #expect(plan >= 0 && plan < started && started < done && done < count, "\(lines.joined(separator: "\n"))")
    }

    /// `vaelab run … | head -1`: a reader that has gone away does not stop the run (SIGPIPE is
    /// ignored); the plan's header, `status`, `report` and `export` count in the singular where
    /// they should.
    @Test func aClosedPipeDoesNotStopTheRun() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(
            tmp,
            #"""
            {"name": "pipe", "base": {\#(CLI.tinyBase), "iwae_samples": 0}}
            """#)
        let dry = try CLI.run(["run", spec, "--dry-run", "--results", tmp + "/results"])
        #expect(dry.stdout.hasPrefix("plan: 1 run from 1 study: 1 to run, 0 cached\n"), "\(dry.stdout)")
        let process = CLI.process(["run", spec, "--results", tmp + "/results"])
        let pipe = Pipe()
        (process.standardOutput, process.standardError) = (pipe, FileHandle.nullDevice)
        try pipe.fileHandleForReading.close()  // the reader is gone before the first line
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        let runs = try FileManager.default.contentsOfDirectory(atPath: tmp + "/results/runs")
        #expect(
            runs.count == 1 && FileManager.default.fileExists(atPath: "\(tmp)/results/runs/\(runs[0])/metrics.json"))
        // One run counts in the singular in every command that counts runs.
        let results = tmp + "/results"
        #expect(try CLI.run(["status", spec, "--results", results]).stdout.hasSuffix("\n1 run: 1 done\n"))
        let report = try CLI.run(["report", "--results", results, "--out", tmp + "/report"])
        #expect(report.stdout.hasSuffix(": 1 run done\n"), "\(report.stdout)")
        let export = try CLI.run(["export", "--results", results, "--out", tmp + "/export"])
        #expect(export.stdout.hasSuffix(": 1 finished run\n"), "\(export.stdout)")
    }

    /// Kills a real `vaelab run` with SIGKILL after its first epoch checkpoint, restarts it, and
    /// compares the resumed run's metrics.json with an uninterrupted run's: for the VAE, and for
    /// an IWAE on dynamically binarised MNIST (whose binarisation stream the checkpoint carries).
    @Test(arguments: ["", #", "model": "iwae", "train_samples": 3, "binarize": "dynamic""#])
    func killedRunResumesToIdenticalMetrics(_ extra: String) throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(
            tmp,
            #"""
            {"name": "resume", "base": {"latent_dim": 2, "hidden_units": 32, "epochs": 4, "batch_size": 64,
             "train_limit": 3000, "test_limit": 500, "iwae_samples": 4\#(extra)}}
            """#)
        let reference = try CLI.run(["run", spec, "--results", tmp + "/uninterrupted"])
        #expect(reference.status == 0, "\(reference.stderr)")
        let runs = try FileManager.default.contentsOfDirectory(atPath: tmp + "/uninterrupted/runs")
        let id = try #require(runs.first)

        let process = CLI.process(["run", spec, "--results", tmp + "/killed"])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let checkpoint = tmp + "/killed/runs/\(id)/checkpoint.safetensors"
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: checkpoint) && Date() < deadline && process.isRunning {
            usleep(20_000)
        }
        #expect(FileManager.default.fileExists(atPath: checkpoint), "no checkpoint appeared")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: tmp + "/killed/runs/\(id)/metrics.json"))

        let resumed = try CLI.run(["run", spec, "--results", tmp + "/killed"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(
            resumed.stdout.contains("resume ") && resumed.stderr.contains("resuming after epoch"),
            "\(resumed.stdout)\n\(resumed.stderr)")
        let a = FileManager.default.contents(atPath: tmp + "/uninterrupted/runs/\(id)/metrics.json")
        let b = FileManager.default.contents(atPath: tmp + "/killed/runs/\(id)/metrics.json")
        #expect(a != nil && a == b, "resumed metrics.json differs from the uninterrupted run's")
        #expect(!FileManager.default.fileExists(atPath: checkpoint))
    }

    /// Stops a real `vaelab run` with SIGTERM, SIGUSR1 (Slurm's warning) and SIGINT after its
    /// first epoch checkpoint: each stops at a batch boundary with 128 + the signal, keeps the
    /// checkpoint, marks nothing failed, and the same command resumes to the uninterrupted
    /// run's metrics.json, byte for byte.
    @Test func stopSignalsEndCleanlyAndResumeToIdenticalMetrics() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(
            tmp,
            #"""
            {"name": "stop", "base": {"latent_dim": 2, "hidden_units": 32, "epochs": 4, "batch_size": 64,
             "train_limit": 3000, "test_limit": 500, "iwae_samples": 4}}
            """#)
        let reference = try CLI.run(["run", spec, "--results", tmp + "/uninterrupted"])
        #expect(reference.status == 0, "\(reference.stderr)")
        let id = try #require(try FileManager.default.contentsOfDirectory(atPath: tmp + "/uninterrupted/runs").first)
        let expected = FileManager.default.contents(atPath: tmp + "/uninterrupted/runs/\(id)/metrics.json")
        for signal in [SIGTERM, SIGUSR1, SIGINT] {
            let results = tmp + "/signal-\(signal)"
            let run = results + "/runs/\(id)"
            let process = CLI.process(["run", spec, "--results", results])
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(120)
            while !FileManager.default.fileExists(atPath: run + "/checkpoint.safetensors") && Date() < deadline
                && process.isRunning
            {
                usleep(20_000)
            }
            kill(process.processIdentifier, signal)
            let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 128 + signal, "signal \(signal): \(stdout)")
            #expect(stdout.contains("1 interrupted") && stdout.contains("the same command resumes"), "\(stdout)")
            #expect(FileManager.default.fileExists(atPath: run + "/checkpoint.safetensors"))
            #expect(!FileManager.default.fileExists(atPath: run + "/metrics.json"))
            #expect(!FileManager.default.fileExists(atPath: run + "/failure.json"), "a stop is not a failure")

            let resumed = try CLI.run(["run", spec, "--results", results])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(resumed.stderr.contains("resuming after epoch"), "\(resumed.stderr)")
            let metrics = FileManager.default.contents(atPath: run + "/metrics.json")
            #expect(expected != nil && metrics == expected, "signal \(signal): resumed metrics.json differs")
        }
    }

    /// `vaelab status` on a tree with a run in every state: done, checkpointed (killed after its
    /// first epoch), failed, running (its lock held, with a holder record), not started.
    @Test func statusNamesEveryState() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try CLI.writeSpec(
            tmp,
            #"""
            {"name": "states", "base": {"latent_dim": 2, "hidden_units": 16, "epochs": 2, "batch_size": 64,
             "train_limit": 256, "test_limit": 128, "iwae_samples": 2}, "seeds": [0, 1, 2, 3, 4]}
            """#)
        let results = tmp + "/results"
        #expect(try CLI.run(["run", spec, "--results", results, "--jobs", "1"]).status == 0)
        let ids = try FileManager.default.contentsOfDirectory(atPath: results + "/runs").sorted()
        try #require(ids.count == 5)
        let runs = ids.map { results + "/runs/" + $0 }
        let fm = FileManager.default
        // ids[0] checkpointed: retrained and killed at its first epoch checkpoint.
        try fm.removeItem(atPath: runs[0])
        let killed = try CLI.run(
            ["run", spec, "--results", results, "--jobs", "1"], environment: ["VAELAB_FAULT_KILL": "epoch:1"])
        #expect(killed.status != 0)
        // ids[1] failed, ids[2] not started, ids[3] running (its lock held here).
        for name in ["metrics.json", "timing.json", "model.safetensors"] {
            try fm.removeItem(atPath: runs[1] + "/" + name)
        }
        try Data(#"{"error":"training diverged","finished_at":"2026-01-01T00:00:00Z"}"#.utf8)
            .write(to: URL(fileURLWithPath: runs[1] + "/failure.json"))
        try fm.removeItem(atPath: runs[2])
        try fm.removeItem(atPath: runs[3] + "/metrics.json")
        let fd = open(runs[3] + "/.lock", O_RDWR | O_CREAT, 0o644)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX) == 0)
        let record = #"{"host":"node7","pid":4242,"since":"2026-01-01T00:00:00Z","slurm_job":"99_3"}"#
        _ = record.withCString { write(fd, $0, strlen($0)) }

        let status = try CLI.run(["status", spec, "--results", results])
        #expect(status.status == 0, "\(status.stderr)")
        let line = { (id: String) in
            status.stdout.split(separator: "\n").first { $0.contains(id) }.map(String.init) ?? ""
        }
        #expect(line(ids[0]).hasPrefix("checkpointed") && line(ids[0]).contains("epoch 1/2 done"), "\(status.stdout)")
        #expect(line(ids[1]).hasPrefix("failed") && line(ids[1]).contains("training diverged"))
        #expect(line(ids[2]).hasPrefix("not started"))
        #expect(line(ids[3]).hasPrefix("running") && line(ids[3]).contains("node7 (pid 4242, Slurm job 99_3)"))
        #expect(line(ids[4]).hasPrefix("done"))
        #expect(status.stdout.contains("5 runs: 1 done, 1 running, 1 checkpointed, 1 failed, 1 not started"))

        let json = try CLI.run(["status", "--results", results, "--json"])  // the recorded study
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["format"] as? String == "vaelab.status/1")
        #expect(
            (object["totals"] as? [String: Int]) == [
                "done": 1, "running": 1, "checkpointed": 1, "failed": 1, "not_started": 1,
            ])
        // A bad spec: one line and exit status 2, as `vaelab run` gives.
        let bad = try CLI.writeSpec(CLI.temporaryDirectory(), #"{"name": "bad", "seeds": [1, 1]}"#)
        let refused = try CLI.run(["status", bad, "--results", results])
        #expect(
            refused.status == 2
                && refused.stderr.hasSuffix("seeds[1]: expected distinct seeds, got 1 again (seeds[0])\n"))
        try? FileManager.default.removeItem(atPath: (bad as NSString).deletingLastPathComponent)
    }
}
