import Support
import Training

/// `experiments/spec.schema.json`, generated from `RunField.all` and the spec's limits
/// (`vaelab schema`; a test fails when the committed file differs). Editors use it to complete
/// and check specs; `SpecParser` remains the authority and gives the error messages.
public enum SpecSchema {
    public static func document() -> JSONValue {
        .object([
            ("$schema", .string("https://json-schema.org/draft/2020-12/schema")),
            ("$id", .string("vaelab.spec/1")),
            ("title", .string("vaelab study spec")),
            (
                "description",
                .string(
                    """
                    A study: base settings, a grid (Cartesian product), zipped lists that vary together, explicit \
                    runs, and seeds. Every expanded run is trained once under results/runs/<run-id>/.
                    """
                )
            ),
            ("type", .string("object")),
            ("additionalProperties", .bool(false)),
            ("required", .array([.string("name")])),
            ("properties", .object(studyProperties())),
            ("$defs", .object([("run", run())])),
        ])
    }

    /// The document as committed: pretty JSON and a final newline.
    public static var text: String { document().pretty() + "\n" }

    /// The spec format as text (`vaelab help spec`): the study's keys and every run field with
    /// the values it takes, its default and its help, from the same definitions as the schema.
    public static var reference: String {
        var s = "A study spec is one JSON object with these keys (only name is required):\n\n"
        for (key, property) in studyProperties() {
            guard case .object(let members) = property,
                case .string(let text)? = members.first(where: { $0.0 == "description" })?.1
            else { continue }
            s += wrap(key.padding(toLength: 13, withPad: " ", startingAt: 0) + text, indent: "  ", hanging: 13)
        }
        s += "\nRun fields, in base, grid, zip and runs (a field left out keeps its default):\n\n"
        let defaults = RunConfig()
        for field in RunField.all {
            s += wrap("\(field.key): \(field.type.expected); default \(field.value(of: defaults).text)", indent: "  ")
            s += wrap(field.help, indent: "      ")
        }
        return s
    }

    /// `text` in lines of at most `width` characters, each after `indent`, those after the first
    /// indented `hanging` more (help output is read in 80-column terminals).
    static func wrap(_ text: String, indent: String, hanging: Int = 0, width: Int = 78) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            let lead = indent + (lines.isEmpty ? "" : String(repeating: " ", count: hanging))
            if !line.isEmpty && lead.count + line.count + 1 + word.count > width {
                lines.append(lead + line)
                line = String(word)
            } else {
                line += (line.isEmpty ? "" : " ") + word
            }
        }
        lines.append(indent + (lines.isEmpty ? "" : String(repeating: " ", count: hanging)) + line)
        return lines.joined(separator: "\n") + "\n"
    }

    static func studyProperties() -> [(String, JSONValue)] {
        let seed = RunField.named("seed")!
        return [
            (
                "name",
                .object([
                    ("type", .string("string")),
                    ("pattern", .string("^[A-Za-z0-9._-]{1,100}$")),
                    ("description", .string("Study name: the table's title and results/studies/<name>.json.")),
                ])
            ),
            (
                "description",
                .object([
                    ("type", .string("string")),
                    ("description", .string("Free text for the report's study section (shown as text, escaped).")),
                ])
            ),
            (
                "base",
                .object([
                    ("$ref", .string("#/$defs/run")), ("description", .string("Defaults for every run of the study.")),
                ])
            ),
            ("grid", axes("Cartesian product over the listed fields; the first key varies slowest.")),
            ("zip", axes("Lists of equal length whose i-th values go together (crossed with the grid).")),
            (
                "runs",
                .object([
                    ("type", .string("array")), ("maxItems", int(StudySpec.maxListLength)),
                    ("items", .object([("$ref", .string("#/$defs/run"))])),
                    ("description", .string("Explicit extra points, each merged over base.")),
                ])
            ),
            (
                "seeds",
                .object(
                    list(of: seed.type, unique: true) + [
                        (
                            "description",
                            .string(
                                """
                                Every point is run once per seed; runs that differ only by seed form one group \
                                (mean ± std).
                                """
                            )
                        )
                    ])
            ),
        ]
    }

    /// `grid` and `zip`: each run field with a non-empty list of its values.
    static func axes(_ description: String) -> JSONValue {
        .object([
            ("type", .string("object")), ("minProperties", int(1)), ("additionalProperties", .bool(false)),
            ("description", .string(description)),
            ("properties", .object(RunField.all.map { ($0.key, .object(list(of: $0.type))) })),
        ])
    }

    /// A run's fields, each with its default and help.
    static func run() -> JSONValue {
        let defaults = RunConfig()
        let properties = RunField.all.map { field -> (String, JSONValue) in
            let value = field.value(of: defaults)
            return (
                field.key,
                .object(schema(field.type) + [("default", json(value)), ("description", .string(field.help))])
            )
        }
        return .object([
            ("type", .string("object")), ("additionalProperties", .bool(false)), ("properties", .object(properties)),
        ])
    }

    static func list(of type: FieldType, unique: Bool = false) -> [(String, JSONValue)] {
        [("type", .string("array")), ("minItems", int(1)), ("maxItems", int(StudySpec.maxListLength))]
            + (unique ? [("uniqueItems", .bool(true))] : []) + [("items", .object(schema(type)))]
    }

    /// The JSON Schema keywords of one field type.
    static func schema(_ type: FieldType) -> [(String, JSONValue)] {
        switch type {
        case .integer(let r):
            return [("type", .string("integer")), ("minimum", int(r.lowerBound)), ("maximum", int(r.upperBound))]
        case .positiveOrNull: return [("type", .array([.string("integer"), .string("null")])), ("minimum", int(1))]
        case .seed: return [("type", .string("integer")), ("minimum", int(0))]
        case .number(let r, let openBelow):
            return [
                ("type", .string("number")), (openBelow ? "exclusiveMinimum" : "minimum", json(.number(r.lowerBound))),
                ("maximum", json(.number(r.upperBound))),
            ]
        case .choice(let values): return [("enum", .array(values.map(JSONValue.string)))]
        }
    }

    static func int(_ n: Int) -> JSONValue { .number(String(n), isInteger: true) }

    static func json(_ value: FieldValue) -> JSONValue {
        switch value {
        case .integer, .unsigned: return .number(value.text, isInteger: true)
        case .number: return .number(value.text, isInteger: false)
        case .text(let s): return .string(s)
        case .null: return .null
        }
    }
}
