import ArgumentParser

@main
struct VAELab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vaelab",
        abstract: "Declarative VAE / autoencoder ablation studies on MNIST, in Swift on OpenBLAS.",
        version: vaelabVersion,
        subcommands: [RunCommand.self, TrainCommand.self, BenchCommand.self])
}

let vaelabVersion = "0.1.0"
