import ArgumentParser
import Training

@main
struct VAELab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vaelab",
        abstract: "Declarative VAE / autoencoder ablation studies on MNIST, in Swift on OpenBLAS.",
        version: Provenance.version,
        subcommands: [
            RunCommand.self, TrainCommand.self, BenchCommand.self, ReportCommand.self, DiffCommand.self,
            ExportCommand.self, SchemaCommand.self, StatusCommand.self, SlurmCommand.self,
        ])
}
