import ArgumentParser
import Training

@main
struct VAELab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vaelab",
        abstract: "Declarative VAE / autoencoder ablation studies on MNIST, in Swift on OpenBLAS.",
        discussion: """
            A study is a JSON spec (vaelab help spec); `make ablation` runs every spec in \
            experiments/ and writes the report.

            Examples:
              vaelab run experiments/reference.json --dry-run
              vaelab run experiments/*.json && vaelab report && vaelab export
              vaelab help spec

            Shell completions (bash, zsh or fish):
              vaelab --generate-completion-script bash > /etc/bash_completion.d/vaelab
            """,
        version: Provenance.version,
        subcommands: [
            RunCommand.self, TrainCommand.self, BenchCommand.self, ReportCommand.self, DiffCommand.self,
            ExportCommand.self, SchemaCommand.self, SpecCommand.self, StatusCommand.self, SlurmCommand.self,
        ])
}
