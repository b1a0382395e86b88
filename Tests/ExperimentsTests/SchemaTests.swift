import Experiments
import Foundation
import Testing

@Suite("spec.schema.json: generated from the run fields, and agreeing with the spec reader")
struct SchemaTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let committed = root.appendingPathComponent("experiments/spec.schema.json")

    @Test func committedSchemaIsTheGeneratedOne() throws {
        let text = try String(contentsOf: Self.committed, encoding: .utf8)
        #expect(
            text == SpecSchema.text,
            "experiments/spec.schema.json is stale: vaelab schema > experiments/spec.schema.json")
    }

    /// Specs that break a per-value rule (type, range, known key), which a JSON Schema can say.
    static let schemaExpressible: Set<String> = [
        "not an object", "missing name", "bad name", "unknown top-level key", "typo in base", "typo in grid",
        "wrong type in grid", "negative beta", "fractional latent dim", "latent dim too large", "batch size zero",
        "negative epochs", "unknown model", "unknown dataset", "learning rate as string", "boolean seed",
        "negative seed", "duplicate seeds", "empty grid", "empty grid list", "grid value not a list",
    ]

    /// Python's `jsonschema` (installed by `make setup`) accepts every shipped spec and rejects
    /// the bad specs above that the spec reader rejects for a per-value reason.
    @Test func jsonschemaAcceptsTheShippedSpecsAndRejectsBadOnes() throws {
        let dir = Self.root.appendingPathComponent("experiments")
        let shipped = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".json") && $0 != "spec.schema.json" }.sorted()
        let bad = SpecValidationTests.cases.filter { Self.schemaExpressible.contains($0.label) }
        #expect(bad.count == Self.schemaExpressible.count, "a bad-spec label was renamed")
        let documents =
            try shipped.map { try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8) }
            + bad.map(\.json)
        let verdicts = try validate(documents)
        for (name, valid) in zip(shipped, verdicts) { #expect(valid, "the schema rejects experiments/\(name)") }
        for (spec, valid) in zip(bad, verdicts.dropFirst(shipped.count)) {
            #expect(!valid, "the schema accepts \(spec.label): \(spec.json)")
            #expect(throws: SpecError.self) { try parse(spec.json) }
        }
    }

    /// One verdict per document, from Draft 2020-12 validation against the committed schema.
    func validate(_ documents: [String]) throws -> [Bool] {
        let script = """
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            v = jsonschema.Draft202012Validator(schema)
            print(json.dumps([v.is_valid(json.loads(d)) for d in json.load(sys.stdin)]))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, Self.committed.path]
        let (input, output, errors) = (Pipe(), Pipe(), Pipe())
        (process.standardInput, process.standardOutput, process.standardError) = (input, output, errors)
        try process.run()
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: documents))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "jsonschema check failed (make setup installs it): \(message)")
        let verdicts = try #require(try JSONSerialization.jsonObject(with: out) as? [Bool])
        try #require(verdicts.count == documents.count)
        return verdicts
    }
}
