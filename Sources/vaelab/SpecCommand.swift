import ArgumentParser
import Experiments

/// `vaelab help spec` (or `vaelab spec`): the spec format as a manual page, generated from the
/// same run-field table as the reader and the schema.
struct SpecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spec",
        abstract: "The study spec format: its keys, and every run field with its values and default.",
        discussion: SpecSchema.reference + """

            Example (experiments/reference.json):
              {"name": "reference",
               "description": "VAE at d = 2 and d = 16 against the AE, three seeds",
               "base": {"hidden_units": 256, "epochs": 25},
               "grid": {"model": ["vae", "ae"], "latent_dim": [2, 16]},
               "seeds": [0, 1, 2]}

            Examples:
              vaelab help spec
              vaelab run my-study.json --dry-run      (checks the spec, prints the plan)
              vaelab schema > experiments/spec.schema.json
            """)

    func run() { print(Self.configuration.discussion) }
}
