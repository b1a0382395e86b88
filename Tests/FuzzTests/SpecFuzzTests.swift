import Experiments
import Foundation
import NeuralNet
import Support
import Testing
import Training

/// The strict JSON parser and the spec parser/validator on mutated specs.
@Suite("Fuzz: JSON and specs")
struct SpecFuzzTests {
    @Test func strictJSONParser() {
        let tally = runFuzz(
            target: "json", corpus: Corpus.json, json: true, classify: { $0 is JSONParseError ? "JSONParseError" : nil }
        ) { input in
            var parser = JSONParser(bytes: input)
            let value = try parser.parseDocument()
            // Parsing is a pure function of the bytes.
            var again = JSONParser(bytes: input)
            #expect(Self.render(try again.parseDocument()) == Self.render(value), "\(describeInput(input))")
            #expect(Self.depth(value) <= JSONParser.maxDepth, "\(describeInput(input))")
        }
        #expect(tally.accepted >= Corpus.json.count, "every corpus document parses")
    }

    /// Every error offset lies inside the input (it is turned into a line and column).
    @Test func strictJSONErrorOffsets() {
        runFuzz(
            target: "json-offsets", corpus: Corpus.json, json: true, iterations: FuzzSettings.iterations / 3,
            classify: { $0 is JSONParseError ? "JSONParseError" : nil }
        ) { input in
            do {
                var parser = JSONParser(bytes: input)
                _ = try parser.parseDocument()
            } catch let error as JSONParseError {
                #expect(
                    error.offset >= 0 && error.offset <= input.count,
                    "offset \(error.offset) of \(input.count): \(describeInput(input))")
                throw error
            }
        }
    }

    @Test func specParser() {
        let corpus = Corpus.specs
        for (i, spec) in corpus.enumerated() {
            #expect(throws: Never.self, "corpus spec \(i) is valid") {
                _ = try SpecParser.parse(spec, file: "corpus-\(i).json")
            }
        }
        let tally = runFuzz(target: "spec", corpus: corpus, json: true, classify: Self.classify) { input in
            let spec = try SpecParser.parse(input, file: "fuzz.json")
            // Whatever is accepted is a usable plan: within the limits, every run valid, no duplicates.
            #expect(!spec.runs.isEmpty && spec.runs.count <= StudySpec.maxRuns, "\(describeInput(input))")
            #expect(
                Set(spec.runs.map(\.config.asRead)).count == spec.runs.count,
                "duplicate runs accepted: \(describeInput(input))")
            for run in spec.runs where run.config.firstInvalidField() != nil {
                Issue.record(
                    "invalid run \(run.origin) accepted: \(run.config.firstInvalidField()!); \(describeInput(input))")
            }
            #expect(!spec.name.isEmpty && spec.name.count <= 100)
            let again = try SpecParser.parse(input, file: "fuzz.json")
            #expect(again.runs == spec.runs && again.sha256 == spec.sha256)
        }
        #expect(tally.accepted >= corpus.count)
        #expect(tally.rejected.values.reduce(0, +) > 0, "mutations are rejected, some of them")
    }

    static func classify(_ error: any Error) -> String? {
        guard let e = error as? SpecError else { return nil }
        #expect(e.file == "fuzz.json")
        if e.message.hasPrefix("malformed JSON") { return "SpecError(json)" }
        if e.message.hasPrefix("not valid UTF-8") { return "SpecError(utf8)" }
        #expect(!e.description.contains("\n"), "a multi-line SpecError: \(e.description)")
        return "SpecError(validation)"
    }

    static func depth(_ v: JSONValue) -> Int {
        switch v {
        case .object(let members): return 1 + (members.map { depth($0.1) }.max() ?? 0)
        case .array(let items): return 1 + (items.map(depth).max() ?? 0)
        default: return 0
        }
    }

    static func render(_ v: JSONValue) -> String {
        switch v {
        case .object(let members):
            return "{" + members.map { "\($0.0.debugDescription):\(render($0.1))" }.joined(separator: ",") + "}"
        case .array(let items): return "[" + items.map(render).joined(separator: ",") + "]"
        case .string(let s): return s.debugDescription
        case .number(let text, let isInteger): return "\(text)\(isInteger ? "i" : "f")"
        case .bool(let b): return "\(b)"
        case .null: return "null"
        }
    }
}
