import Experiments
import Foundation
import Testing
import Training

func parse(_ json: String) throws -> StudySpec { try SpecParser.parse(Array(json.utf8), file: "experiments/t.json") }

@Suite("Spec expansion")
struct SpecExpansionTests {
    @Test func gridIsTheCartesianProductFirstKeySlowest() throws {
        let spec = try parse(#"{"name": "g", "grid": {"model": ["vae", "ae"], "latent_dim": [2, 16, 32]}}"#)
        #expect(
            spec.runs.map { "\($0.config.model.rawValue)\($0.config.latentDim)" } == [
                "vae2", "vae16", "vae32", "ae2", "ae16", "ae32",
            ])
    }

    @Test func zipVariesTogetherAndCrossesTheGrid() throws {
        let spec = try parse(
            #"{"name": "z", "grid": {"model": ["vae", "ae"]}, "#
                + #""zip": {"latent_dim": [2, 16], "hidden_units": [16, 256]}}"#
        )
        #expect(
            spec.runs.map { "\($0.config.model.rawValue)-\($0.config.latentDim)-\($0.config.hiddenUnits)" }
                == ["vae-2-16", "vae-16-256", "ae-2-16", "ae-16-256"])
    }

    @Test func seedsMultiplyEveryPointAndExplicitRunsAreAdded() throws {
        let spec = try parse(
            #"""
            {"name": "s", "base": {"epochs": 3, "beta": 0.5}, "grid": {"latent_dim": [2, 4]}, "seeds": [0, 7],
             "runs": [{"latent_dim": 8, "beta": 2}, {"latent_dim": 8, "seed": 3}]}
            """#)
        let described = spec.runs.map { "d\($0.config.latentDim)s\($0.config.seed)b\($0.config.beta)" }
        #expect(described == ["d2s0b0.5", "d2s7b0.5", "d4s0b0.5", "d4s7b0.5", "d8s0b2.0", "d8s7b2.0", "d8s3b0.5"])
        #expect(spec.runs.allSatisfy { $0.config.epochs == 3 })
    }

    /// β and the NLL bound's k are read by the VAEs only: an AE beside a β sweep is one run, and
    /// two AE configs that differ only there are the same run (`asRead`), which the spec rejects.
    @Test func anAEStandsBesideASweepOfWhatItDoesNotRead() throws {
        let spec = try parse(#"{"name": "s", "grid": {"beta": [0.5, 2]}, "runs": [{"model": "ae"}]}"#)
        #expect(spec.runs.map { "\($0.config.model.rawValue) \($0.config.beta)" } == ["vae 0.5", "vae 2.0", "ae 1.0"])
        var (ae, other) = (RunConfig(), RunConfig())
        ae.model = .ae
        other.model = .ae
        (other.beta, other.iwaeSamples) = (4, 7)
        #expect(other != ae && other.asRead == ae && ae.asRead == ae)
        var vae = other
        vae.model = .vae
        #expect(vae.asRead == vae)
    }

    @Test func baseAloneIsOneRunAndDefaultsAreFilledIn() throws {
        let spec = try parse(#"{"name": "one"}"#)
        #expect(spec.runs.count == 1)
        #expect(spec.runs[0].config == RunConfig())
    }

    @Test func shippedSpecsAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let counts = ["reference": 12, "width": 11, "beta-sweep": 18, "latent-sweep": 6, "smoke": 4]
        for (name, count) in counts {
            let spec = try SpecParser.load(path: root.appendingPathComponent("experiments/\(name).json").path)
            #expect(spec.name == name && spec.runs.count == count, "\(name): \(spec.runs.count) runs")
        }
    }
}

struct BadSpec: CustomStringConvertible, Sendable {
    var label: String
    var json: String
    var fragment: String
    var description: String { label }
}

@Suite("Spec validation: every error is one line with the file, the path and what was expected")
struct SpecValidationTests {
    static let cases: [BadSpec] = [
        BadSpec(label: "malformed JSON", json: "{\"name\": \"x\",\n \"grid\": {", fragment: "malformed JSON at line 2"),
        BadSpec(label: "trailing comma", json: #"{"name": "x",}"#, fragment: "malformed JSON"),
        BadSpec(label: "not an object", json: "[1, 2]", fragment: "expected an object, got an array"),
        BadSpec(label: "missing name", json: "{}", fragment: "name: missing"),
        BadSpec(label: "bad name", json: #"{"name": "a b/c"}"#, fragment: "name: expected 1-100 ASCII letters"),
        BadSpec(label: "dots only", json: #"{"name": ".."}"#, fragment: "starting with a letter or digit, got \"..\""),
        BadSpec(label: "hidden name", json: #"{"name": ".x"}"#, fragment: "starting with a letter or digit"),
        BadSpec(label: "option-like name", json: #"{"name": "-x"}"#, fragment: "starting with a letter or digit"),
        BadSpec(
            label: "unknown top-level key", json: #"{"name": "x", "gird": {}}"#,
            fragment: "gird: unknown key \"gird\" (did you mean \"grid\"?)"),
        BadSpec(
            label: "typo in base", json: #"{"name": "x", "base": {"latnt_dim": 2}}"#,
            fragment: "base.latnt_dim: unknown key \"latnt_dim\" (did you mean \"latent_dim\"?)"),
        BadSpec(
            label: "typo in grid", json: #"{"name": "x", "grid": {"betta": [1]}}"#,
            fragment: "grid.betta: unknown key \"betta\" (did you mean \"beta\"?)"),
        BadSpec(
            label: "wrong type in grid", json: #"{"name": "x", "grid": {"beta": [1, 2, "one"]}}"#,
            fragment: "grid.beta[2]: expected a number, got \"one\""),
        BadSpec(
            label: "negative beta", json: #"{"name": "x", "grid": {"beta": [-1]}}"#,
            fragment: "grid.beta[0]: expected a number in 0...1e6"),
        BadSpec(
            label: "fractional latent dim", json: #"{"name": "x", "base": {"latent_dim": 2.5}}"#,
            fragment: "base.latent_dim: expected an integer, got 2.5"),
        BadSpec(
            label: "latent dim too large", json: #"{"name": "x", "base": {"latent_dim": 1000000000}}"#,
            fragment: "base.latent_dim: expected an integer in 1...4096"),
        BadSpec(
            label: "batch size zero", json: #"{"name": "x", "base": {"batch_size": 0}}"#,
            fragment: "base.batch_size: expected an integer in 1...60000, got 0"),
        BadSpec(
            label: "negative epochs", json: #"{"name": "x", "base": {"epochs": -1}}"#,
            fragment: "base.epochs: expected an integer in 1...10000, got -1"),
        BadSpec(
            label: "unknown model", json: #"{"name": "x", "base": {"model": "gan"}}"#,
            fragment: "base.model: expected one of \"vae\", \"ae\", \"iwae\", got \"gan\""),
        BadSpec(
            label: "weighted IWAE", json: #"{"name": "x", "base": {"model": "iwae"}, "grid": {"beta": [1, 4]}}"#,
            fragment: "point 1: beta: expected 1 for model \"iwae\""),
        BadSpec(
            label: "samples for a VAE", json: #"{"name": "x", "runs": [{"train_samples": 5}]}"#,
            fragment: "runs[0]: train_samples: expected 1 for model \"vae\""),
        BadSpec(
            label: "IWAE decoding too many codes at once",
            json: #"{"name": "x", "base": {"model": "iwae", "batch_size": 128, "train_samples": 129}}"#,
            fragment: "base: train_samples: expected at most 128 with batch_size 128 (a step decodes"),
        BadSpec(
            label: "unknown binarisation", json: #"{"name": "x", "base": {"binarize": "static"}}"#,
            fragment: "base.binarize: expected one of \"none\", \"dynamic\", got \"static\""),
        BadSpec(
            label: "unknown likelihood", json: #"{"name": "x", "base": {"likelihood": "gaussian"}}"#,
            fragment: "base.likelihood: expected one of \"bernoulli\", \"continuous_bernoulli\""),
        BadSpec(
            label: "unknown dataset", json: #"{"name": "x", "base": {"dataset": "cifar"}}"#,
            fragment: "base.dataset: expected one of \"mnist\", \"fashion-mnist\""),
        BadSpec(
            label: "learning rate as string", json: #"{"name": "x", "base": {"learning_rate": "fast"}}"#,
            fragment: "base.learning_rate: expected a number, got \"fast\""),
        BadSpec(
            label: "boolean seed", json: #"{"name": "x", "seeds": [true]}"#,
            fragment: "seeds[0]: expected an integer, got true"),
        BadSpec(
            label: "negative seed", json: #"{"name": "x", "seeds": [-1]}"#,
            fragment: "seeds[0]: expected an integer >= 0"),
        BadSpec(
            label: "duplicate seeds", json: #"{"name": "x", "seeds": [1, 2, 1]}"#,
            fragment: "seeds[2]: expected distinct seeds, got 1 again (seeds[0])"),
        BadSpec(
            label: "empty grid", json: #"{"name": "x", "grid": {}}"#, fragment: "grid: expected at least one field"),
        BadSpec(
            label: "empty grid list", json: #"{"name": "x", "grid": {"beta": []}}"#,
            fragment: "grid.beta: expected a non-empty array"),
        BadSpec(
            label: "grid value not a list", json: #"{"name": "x", "grid": {"beta": 1}}"#,
            fragment: "grid.beta: expected an array, got a number"),
        BadSpec(
            label: "zip lengths differ", json: #"{"name": "x", "zip": {"beta": [1, 2], "latent_dim": [2]}}"#,
            fragment: "zip.latent_dim: expected 2 values like zip.beta, got 1"),
        BadSpec(
            label: "same field in grid and zip", json: #"{"name": "x", "grid": {"beta": [1]}, "zip": {"beta": [2]}}"#,
            fragment: "zip.beta: \"beta\" is already varied by the grid"),
        BadSpec(
            label: "seeds twice", json: #"{"name": "x", "grid": {"seed": [1]}, "seeds": [2]}"#,
            fragment: "seeds: seeds are already varied"),
        BadSpec(
            label: "duplicate runs", json: #"{"name": "x", "grid": {"beta": [1, 1.0]}}"#,
            fragment: "duplicate run: point 1 has the same config as point 0 (vae d=2 H=256 β=1)"),
        BadSpec(
            label: "duplicate explicit run", json: #"{"name": "x", "runs": [{"beta": 2}, {"beta": 2}]}"#,
            fragment: "duplicate run: runs[1]"),
        BadSpec(
            label: "an AE's beta varied", json: #"{"name": "x", "base": {"model": "ae"}, "grid": {"beta": [0.5, 1]}}"#,
            fragment: #"duplicate run: point 1 trains the same model as point 0: model "ae" does not read beta"#),
        BadSpec(
            label: "an AE's NLL k varied beside the VAE's",
            json: #"{"name": "x", "grid": {"model": ["vae", "ae"], "iwae_samples": [10, 100]}}"#,
            fragment: #"point 3 trains the same model as point 2: model "ae" does not read iwae_samples"#),
        BadSpec(
            label: "duplicate key", json: #"{"name": "x", "base": {"beta": 1, "beta": 2}}"#,
            fragment: "base: duplicate key \"beta\""),
        BadSpec(
            label: "too many runs",
            json: #"{"name": "x", "grid": {"latent_dim": \#(Array(1...100)), "hidden_units": \#(Array(1...101))}}"#,
            fragment: "expands to more than 10000 runs"),
        BadSpec(
            label: "a million runs",
            json:
                #"{"name": "x", "grid": {"latent_dim": \#(Array(1...1000)), "#
                + #""hidden_units": \#(Array(1...1000))}, "seeds": [0]}"#,
            fragment: "expands to more than 10000 runs"),
        BadSpec(
            label: "deeply nested",
            json: #"{"name": "x", "base": "# + String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
                + "}",
            fragment: "nesting deeper than"),
        BadSpec(
            label: "null where a number belongs", json: #"{"name": "x", "base": {"beta": null}}"#,
            fragment: "base.beta: expected a number, got null"),
    ]

    @Test(arguments: cases)
    func rejects(_ bad: BadSpec) {
        do {
            _ = try parse(bad.json)
            Issue.record("accepted: \(bad.label)")
        } catch let error as SpecError {
            let message = "\(error)"
            #expect(message.hasPrefix("experiments/t.json: "), "\(message)")
            #expect(message.contains(bad.fragment), "\(message)")
            #expect(!message.contains("\n"))
        } catch {
            Issue.record("unexpected error type: \(error)")
        }
    }

    @Test func hugeFilesAreRejectedBeforeParsing() throws {
        let path = NSTemporaryDirectory() + "vaelab-huge-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let big = Data(count: StudySpec.maxFileBytes + 1)
        try big.write(to: URL(fileURLWithPath: path))
        #expect(throws: SpecError.self) { try SpecParser.load(path: path) }
        // A 100 MB file (sparse: nothing is allocated) is rejected from its size, unread.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 100 * 1024 * 1024)
        try handle.close()
        do {
            _ = try SpecParser.load(path: path)
            Issue.record("accepted a 100 MB spec")
        } catch let e as SpecError {
            #expect("\(e)".contains("104857600 bytes; specs are limited to"))
        }
        #expect(throws: SpecError.self) { try SpecParser.load(path: path + ".missing") }
    }
}
