import ArgumentParser
import Training

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

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

    /// stdout line-buffered, as on a terminal: a log file that takes both streams (`> log 2>&1`,
    /// nohup, a Slurm job's output) gets the lines in the order they were written, the plan
    /// before the progress on stderr, not stdout's at exit. A reader that goes away
    /// (`vaelab run … | head`) does not stop the work: SIGPIPE is ignored, the lines are dropped.
    static func main() {
        setvbuf(stdout, nil, _IOLBF, 0)
        signal(SIGPIPE, SIG_IGN)
        main(nil)
    }
}
