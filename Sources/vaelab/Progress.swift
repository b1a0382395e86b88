import ArgumentParser
import Foundation
import Support
import Training

#if canImport(Glibc)
    import Glibc
#endif

/// Prints a progress line per epoch to stderr and, when stderr is a terminal, a live bar with ETA.
final class ProgressPrinter {
    let label: String
    let epochs: Int
    let live = isatty(2) == 1
    private let start = Date()

    init(label: String, epochs: Int) {
        self.label = label
        self.epochs = epochs
    }

    func handle(_ event: TrainingEvent) {
        switch event {
        case .batch(let epoch, let batch, let batches, let running, let elapsed):
            guard live else { return }
            let fraction = Double(batch) / Double(batches)
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let perEpoch = elapsed / fraction
            let eta = readableDuration(perEpoch * (1 - fraction) + perEpoch * Double(epochs - epoch))
            write("\r\u{1B}[2K\(label) epoch \(epoch)/\(epochs) [\(bar)] loss \(fixed(running, 2)) ETA \(eta)")
        case .epochEnd(let record, let seconds):
            if live { write("\r\u{1B}[2K") }
            var line = "\(label) epoch \(record.epoch)/\(epochs): train recon \(fixed(record.train.recon, 2))"
            if let kl = record.train.kl { line += " kl \(fixed(kl, 2))" }
            line +=
                """
                 total \(fixed(record.train.total, 2)) | test total \(fixed(record.test.total, 2)) | \
                \(fixed(seconds, 1)) s
                """
            write(line + "\n")
        case .evaluating(let what):
            write("\(label) evaluating: \(what)\n")
        case .evaluationProgress(let what, let fraction, let elapsed):
            guard live else { return }
            guard fraction < 1 else { return write("\r\u{1B}[2K") }
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let eta = fraction > 0 ? elapsed / fraction * (1 - fraction) : .nan
            write("\r\u{1B}[2K\(label) \(what) [\(bar)] ETA \(readableDuration(eta))")
        }
    }

    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}

/// An error already explained on stderr: exit 1 with that one line.
enum CleanExit {
    static func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        return ExitCode.failure
    }
}
