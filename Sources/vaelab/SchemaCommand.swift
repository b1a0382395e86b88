import ArgumentParser
import Experiments

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema of study specs (experiments/spec.schema.json is this output).",
        discussion: """
            Generated from the run fields vaelab knows, their types, ranges and defaults. Point an \
            editor at it to complete and check specs; `vaelab run` gives the authoritative messages. \
            The same fields as text: vaelab help spec.

            Examples:
              vaelab schema > experiments/spec.schema.json
            """)

    func run() { print(SpecSchema.text, terminator: "") }
}
