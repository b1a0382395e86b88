import Foundation
import Testing

/// Crash consistency, concurrency, disk faults and corrupted inputs, each with a real `vaelab`
/// process. Kills happen at exact points through the `VAELAB_FAULT_KILL=<point>:<n>` hook.
@Suite("vaelab under faults", .serialized)
struct FaultTests {
    static let spec = #"""
        {"name": "faults", "base": {"latent_dim": 2, "hidden_units": 16, "epochs": 3, "batch_size": 64,
         "train_limit": 256, "test_limit": 128, "iwae_samples": 3}, "grid": {"model": ["vae", "ae"]}}
        """#

    /// The spec's path is recorded in the results (studies/, summary.json), so the fault study
    /// lives at one fixed path for every scenario.
    static func writeSpec(_ dir: String, _ text: String = spec) throws -> String {
        let path = text == spec ? NSTemporaryDirectory() + "vaelab-fault-study.json" : dir + "/spec.json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Every file under `root`, relative path -> bytes, leaving out locks and weights-free noise.
    static func files(_ root: String) -> [String: Data] {
        var out: [String: Data] = [:]
        guard let e = FileManager.default.enumerator(atPath: root) else { return out }
        while let rel = e.nextObject() as? String {
            var isDir: ObjCBool = false
            let path = root + "/" + rel
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else { continue }
            if rel.hasSuffix(".lock") || rel.hasSuffix("timing.json") { continue }
            out[rel] = FileManager.default.contents(atPath: path)
        }
        return out
    }

    /// No file under `root` may look complete without being so: JSON parses, PNGs end with IEND,
    /// safetensors headers fit, and no temporary file is left behind.
    static func checkNothingHalfWritten(_ root: String, allowTemporaries: Bool) {
        for (rel, data) in files(root) {
            let name = (rel as NSString).lastPathComponent
            if name.contains(".tmp-") {
                #expect(allowTemporaries, "temporary file left behind: \(rel)")
                continue
            }
            if name.hasSuffix(".json") {
                #expect((try? JSONSerialization.jsonObject(with: data)) != nil, "\(rel) is not complete JSON")
            } else if name.hasSuffix(".png") {
                #expect(
                    data.count > 12 && String(decoding: data.suffix(8).prefix(4), as: UTF8.self) == "IEND",
                    "\(rel) is a cut PNG")
            } else if name.hasSuffix(".safetensors") {
                let n = data.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
                #expect(data.count >= 8 + n, "\(rel) is a cut safetensors file")
            }
        }
    }

    /// The study run once without faults (once for the suite; empty if that run failed).
    static let uninterrupted: [String: Data] = {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        guard let spec = try? writeSpec(tmp),
            let r = try? CLI.run(["run", spec, "--jobs", "1", "--results", tmp + "/results"]), r.status == 0
        else { return [:] }
        return files(tmp + "/results")
    }()

    static func expected() throws -> [String: Data] {
        let f = uninterrupted
        try #require(!f.isEmpty, "the uninterrupted reference run failed")
        return f
    }

    /// SIGKILL at 20 seeded points across training, checkpoints, final writes, figures and the
    /// summary; each restart must finish the study with every file byte-identical to an
    /// uninterrupted run's.
    @Test func killedAtSeededPointsRestartsToIdenticalResults() throws {
        let expected = try Self.expected()
        // Every point the study passes and how often (2 runs x 3 epochs x 4 batches, ...).
        let points: [(String, Int)] = [
            ("batch", 24), ("epoch", 6), ("evaluation", 2), ("write:checkpoint.safetensors", 6),
            ("write:model.safetensors", 2), ("write:metrics.json", 2), ("write:timing.json", 2),
            ("write:samples.png", 2), ("write:latent-map.png", 2), ("write:manifold.png", 2),
            ("write:reconstructions.png", 2), ("write:summary.json", 4), ("write:summary.md", 4),
            ("write:faults.json", 1),
        ]
        var rng = UInt64(20261125)
        func next() -> UInt64 {  // SplitMix64
            rng &+= 0x9E37_79B9_7F4A_7C15
            var z = rng
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        // Each category at least once, then seeded picks.
        var chosen = points.map { ($0.0, Int(next() % UInt64($0.1)) + 1) }
        while chosen.count < 20 {
            let p = points[Int(next() % UInt64(points.count))]
            chosen.append((p.0, Int(next() % UInt64(p.1)) + 1))
        }
        for (point, n) in chosen {
            let tmp = CLI.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: tmp) }
            let spec = try Self.writeSpec(tmp)
            let killed = try CLI.run(
                ["run", spec, "--jobs", "1", "--results", tmp + "/results"],
                environment: ["VAELAB_FAULT_KILL": "\(point):\(n)"])
            #expect(killed.status == SIGKILL, "\(point):\(n) did not kill the process (status \(killed.status))")
            Self.checkNothingHalfWritten(tmp + "/results", allowTemporaries: true)
            let restarted = try CLI.run(["run", spec, "--jobs", "1", "--results", tmp + "/results"])
            #expect(restarted.status == 0, "restart after \(point):\(n): \(restarted.stderr)")
            Self.checkNothingHalfWritten(tmp + "/results", allowTemporaries: false)
            let got = Self.files(tmp + "/results")
            #expect(
                Set(got.keys) == Set(expected.keys),
                "after \(point):\(n): files differ: \(Set(got.keys).symmetricDifference(expected.keys))")
            for (rel, data) in expected where got[rel] != data {
                Issue.record("after a kill at \(point):\(n), \(rel) differs from the uninterrupted run's")
            }
        }
    }

    /// Two `vaelab run`s started together on one tree: every run trained once, both exit with a
    /// clear status, and the tree equals an uninterrupted run's.
    @Test func twoProcessesOnOneTreeTrainEachRunOnce() throws {
        let expected = try Self.expected()
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try Self.writeSpec(tmp)
        final class Box: @unchecked Sendable {
            var results: [CLI.Result] = []
            let lock = NSLock()
        }
        let box = Box()
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            let r = try? CLI.run(["run", spec, "--jobs", "1", "--results", tmp + "/results"])
            box.lock.lock()
            if let r { box.results.append(r) }
            box.lock.unlock()
        }
        let results = box.results
        #expect(results.count == 2)
        var trained = 0
        for r in results {
            #expect(r.status == 0 || r.status == 3, "status \(r.status): \(r.stderr)")
            if r.status == 3 { #expect(r.stdout.contains("being trained by another vaelab process")) }
            if let line = r.stdout.split(separator: "\n").first(where: { $0.contains(" trained, ") }),
                let n = Int(line.split(separator: " ")[0])
            {
                trained += n
            }
        }
        #expect(trained == 2, "runs trained \(trained) times in all")
        let again = try CLI.run(["run", spec, "--results", tmp + "/results"])
        #expect(again.status == 0 && again.stdout.contains("0 trained, 2 cached"), "\(again.stdout)")
        let got = Self.files(tmp + "/results")
        for (rel, data) in expected { #expect(got[rel] == data, "\(rel) differs") }
    }

    static let canMount: Bool = {
        guard getuid() == 0 else { return false }
        let dir = CLI.temporaryDirectory()
        defer {
            _ = try? CLI.shell("umount \(dir)")
            try? FileManager.default.removeItem(atPath: dir)
        }
        return (try? CLI.shell("mount -t tmpfs -o size=64k tmpfs \(dir)"))?.status == 0
    }()

    /// A results directory on a full file system (a 160 KB tmpfs): a clear error, a non-zero
    /// exit, and no partial file.
    @Test(.enabled(if: FaultTests.canMount, "needs root to mount a tmpfs"))
    func fullDiskIsAClearErrorAndLeavesNoPartialFile() throws {
        let tmp = CLI.temporaryDirectory()
        let mount = tmp + "/small"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        #expect(try CLI.shell("mount -t tmpfs -o size=160k tmpfs \(mount)").status == 0)
        defer {
            _ = try? CLI.shell("umount \(mount)")
            try? FileManager.default.removeItem(atPath: tmp)
        }
        let r = try CLI.run(["run", try Self.writeSpec(tmp), "--jobs", "1", "--results", mount + "/results"])
        #expect(r.status != 0)
        #expect((r.stdout + r.stderr).contains("No space left on device"), "\(r.stdout)\n\(r.stderr)")
        Self.checkNothingHalfWritten(mount + "/results", allowTemporaries: false)
        for (rel, _) in Self.files(mount + "/results") {
            #expect(!rel.hasSuffix("metrics.json"), "a run claims to be finished: \(rel)")
        }
    }

    @Test(.enabled(if: FaultTests.canMount, "needs root to mount a tmpfs")) func readOnlyResultsIsAClearError() throws {
        let tmp = CLI.temporaryDirectory()
        let mount = tmp + "/ro"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        #expect(try CLI.shell("mount -t tmpfs -o size=1m,ro tmpfs \(mount)").status == 0)
        defer {
            _ = try? CLI.shell("umount \(mount)")
            try? FileManager.default.removeItem(atPath: tmp)
        }
        let r = try CLI.run(["run", try Self.writeSpec(tmp), "--results", mount + "/results"])
        #expect(r.status == 1)
        let message = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(
            message.hasPrefix("vaelab run: \(mount)/results") && message.contains("Read-only file system"), "\(message)"
        )
        #expect(!message.contains("\n"))
        #expect(Self.files(mount).isEmpty)
    }

    /// A run whose loss becomes infinite is stopped and marked failed with its epoch and batch;
    /// the other run finishes and the exit status says one failed.
    @Test func divergingRunFailsAloneWithItsEpochAndBatch() throws {
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try Self.writeSpec(
            tmp,
            #"""
            {"name": "diverge", "base": {"latent_dim": 2, "hidden_units": 16, "epochs": 2, "batch_size": 64,
             "train_limit": 256, "test_limit": 128, "iwae_samples": 3},
             "runs": [{"learning_rate": 10, "beta": 1000000}, {"learning_rate": 0.001}]}
            """#)
        let r = try CLI.run(["run", spec, "--jobs", "2", "--results", tmp + "/results"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("1 trained, 0 cached, 1 failed"), "\(r.stdout)")
        let failed = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("FAILED ") })
        #expect(failed.contains("epoch") && failed.contains("batch"))
        let id = String(failed.dropFirst("FAILED ".count).prefix { $0 != ":" })
        let record = try #require(FileManager.default.contents(atPath: tmp + "/results/runs/\(id)/failure.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: record) as? [String: Any])
        #expect(object["epoch"] as? Int == 1 && (object["batch"] as? Int ?? 0) >= 1)
        #expect(!FileManager.default.fileExists(atPath: tmp + "/results/runs/\(id)/metrics.json"))
    }

    /// A truncated checkpoint is reported and ignored (the run starts over); a hand-edited
    /// metrics.json is detected and the run retrained; a flipped byte in a data file stops
    /// everything with the file's name.
    @Test func corruptedFilesAreDetectedNeverUsed() throws {
        let expected = try Self.expected()
        let tmp = CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let spec = try Self.writeSpec(tmp)
        let results = tmp + "/results"
        let killed = try CLI.run(
            ["run", spec, "--jobs", "1", "--results", results], environment: ["VAELAB_FAULT_KILL": "epoch:2"])
        #expect(killed.status == SIGKILL)
        let checkpoints = Self.files(results).keys.filter { $0.hasSuffix("checkpoint.safetensors") }
        let checkpoint = try #require(checkpoints.first)
        let full = try #require(FileManager.default.contents(atPath: results + "/" + checkpoint))
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: results + "/" + checkpoint))
        let resumed = try CLI.run(["run", spec, "--jobs", "1", "--results", results])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("ignoring checkpoint"), "\(resumed.stderr)")
        for (rel, data) in expected where rel.hasSuffix("metrics.json") {
            #expect(Self.files(results)[rel] == data, "\(rel)")
        }

        // Hand-edit one finished run's metrics.json: the next run retrains it, identically.
        let metrics = try #require(expected.keys.first { $0.hasSuffix("metrics.json") && $0.hasPrefix("runs/vae") })
        var text = String(decoding: expected[metrics]!, as: UTF8.self)
        let key = try #require(text.range(of: "\"recon\" : "))
        let digit = try #require(text[key.upperBound...].firstIndex(where: { $0.isNumber }))
        text.replaceSubrange(digit...digit, with: text[digit] == "9" ? "8" : "9")
        try text.write(toFile: results + "/" + metrics, atomically: true, encoding: .utf8)
        let rerun = try CLI.run(["run", spec, "--jobs", "1", "--results", results])
        #expect(
            rerun.status == 0 && rerun.stdout.contains("retrain") && rerun.stdout.contains("modified"),
            "\(rerun.stdout)")
        #expect(Self.files(results)[metrics] == expected[metrics])

        // A flipped byte in a copy of the data.
        let data = tmp + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: CLI.root.path + "/data/mnist")
        where name.hasSuffix(".gz") {
            try FileManager.default.copyItem(atPath: CLI.root.path + "/data/mnist/" + name, toPath: data + "/" + name)
        }
        let victim = data + "/t10k-labels-idx1-ubyte.gz"
        var bytes = try #require(FileManager.default.contents(atPath: victim))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: victim))
        let bad = try CLI.run(["run", spec, "--results", tmp + "/other", "--data-dir", data])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("t10k-labels-idx1-ubyte"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: tmp + "/other/runs"))
    }
}

extension CLI {
    /// Runs a shell command (mount, umount), returning its status.
    static func shell(_ command: String) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: "", stderr: String(decoding: data, as: UTF8.self))
    }
}
