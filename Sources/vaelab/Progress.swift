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
            let eta = trainingETA(epoch: epoch, of: epochs, fraction: fraction, elapsed: elapsed)
            write(
                "\r\u{1B}[2K\(label) epoch \(epoch)/\(epochs) [\(bar(fraction))] loss \(fixed(running, 2)) ETA \(eta)")
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
            let eta = evaluationETA(fraction: fraction, elapsed: elapsed)
            write("\r\u{1B}[2K\(label) \(what) [\(bar(fraction))] ETA \(eta)")
        }
    }

    /// A 24-character bar, `fraction` of it filled.
    private func bar(_ fraction: Double) -> String {
        let filled = Int(fraction * 24)
        return String(repeating: "#", count: filled) + String(repeating: ".", count: 24 - filled)
    }

    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}

/// Time left in training, `fraction` of epoch `epoch` of `epochs` done after `elapsed` seconds in
/// it: the rest of this epoch and the epochs after it, at this epoch's pace.
func trainingETA(epoch: Int, of epochs: Int, fraction: Double, elapsed: Double) -> String {
    readableDuration(elapsed / fraction * (1 - fraction + Double(epochs - epoch)))
}

/// Time left in an evaluation pass `fraction` done after `elapsed` seconds ("?" before any).
func evaluationETA(fraction: Double, elapsed: Double) -> String {
    readableDuration(fraction > 0 ? elapsed / fraction * (1 - fraction) : .nan)
}

/// An error explained on stderr in one line, then the exit status (the README's exit codes).
enum CleanExit {
    /// Writes `message` as one line on stderr and returns the exit status to throw: 1 for a
    /// failure, 2 for input the command cannot use (a bad spec, an unreadable results tree).
    static func failure(_ message: String, code: Int32 = 1) -> ExitCode {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        return ExitCode(code)
    }
}
