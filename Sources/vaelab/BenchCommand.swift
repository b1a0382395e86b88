import ArgumentParser
import Datasets
import Foundation
import Models
import NeuralNet
import Support
import Training

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time one training step of the reference models against the machine's sgemm peak.",
        discussion: """
            Prints per model the step time, images/s and the share of the sgemm peak, the \
            evaluation pass and (VAEs) the IWAE bound's evaluation, and runs side by side against one \
            alone; then the BLAS core, the sgemm peak, one core's FMA peak and the vector width \
            vaelab's own kernels run with; then a per-layer split of a step and of an IWAE pass. \
            Benchmark on a quiet machine, in a release build (make bench; make bench-avx2 for the \
            code path of a machine without AVX-512).

            Examples:
              vaelab bench
              vaelab bench --hidden-units 16 --steps 4 --json
            """)

    @Option(help: "Images per batch.") var batchSize = 128
    @Option(
        help:
            """
            Threads for one run, as vaelab train --threads: each batch of the training step and the evaluation pass \
            split across them, one BLAS thread each (the per-layer profile: the one-thread step on as many BLAS \
            threads).
            """
    ) var threads = 1
    @Option(help: "Timed steps per model (median reported).") var steps = 12
    @Option(help: "Hidden widths H to measure (comma-separated).") var hiddenUnits = "16,256"
    @Option(
        help: ArgumentHelp(
            "Importance samples k per image for the IWAE bound's timing (over one batch of images); 0 skips it.",
            valueName: "k"))
    var iwaeSamples = 100
    @Option(
        help: ArgumentHelp(
            """
            Also time this many runs side by side in one process (vaelab run --jobs N, one BLAS thread each) \
            against one alone; 1 skips it.
            """,
            valueName: "n"))
    var jobs = 2
    @Option(
        help: """
            Pixels of the timed batch: mnist (the first training images, as make bench-compare gives every peer) or \
            uniform (synthetic [0, 1] pixels).
            """)
    var data: BenchData = .mnist
    @Option(help: "Directory holding MNIST for --data mnist (default: $VAELAB_DATA_DIR, ./data/mnist).") var dataDir:
        String?
    @Flag(help: "Print one JSON object instead of tables.") var json = false
    @Flag(help: "Skip the per-layer breakdown in the text output.") var noLayers = false

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        guard (1...DataParallelStep.maxWorkers).contains(threads) else {
            throw ValidationError(
                "--threads: expected an integer in 1...\(DataParallelStep.maxWorkers), got \(threads)")
        }
        guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
        guard jobs > 0 else { throw ValidationError("--jobs must be positive, got \(jobs)") }
        guard iwaeSamples >= 0 else { throw ValidationError("--iwae-samples must be 0 or more, got \(iwaeSamples)") }
        guard let widths, !widths.isEmpty, widths.allSatisfy({ $0 > 0 }) else {
            throw ValidationError(
                "--hidden-units must be a comma-separated list of positive integers, got '\(hiddenUnits)'")
        }
    }

    /// The widths, or nil when any entry is not an integer.
    private var widths: [Int]? {
        let parts = hiddenUnits.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return values.count == parts.count ? values : nil
    }

    func run() throws {
        let images = try timedBatch()
        BLAS.threads = threads
        let sgemm = Benchmark.sgemmGFLOPs()
        let fmaPeak = Benchmark.fmaPeakGFLOPs()
        let results = measureModels(images: images, sgemm: sgemm)
        let parallel = jobs > 1 ? measureSideBySide() : []
        let hint = BLASKernelAdvice.hint(
            core: BLAS.coreName, cpuFlags: BLASKernelAdvice.cpuFlags,
            environment: ProcessInfo.processInfo.environment)
        let report = BenchmarkReport(
            blasCore: BLAS.coreName, blasThreads: BLAS.threads, sgemmGflops: sgemm, fmaPeakGflops: fmaPeak,
            models: results, blasHint: hint, parallel: parallel, data: data.rawValue)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        printMachine(report)
        if !noLayers, let worst = results.first(where: { $0.name == "vae-d16-h16" }) ?? results.first {
            printBreakdown(worst)
        }
    }

    /// The first `batchSize` MNIST training images as [N, 1, H, W] (`--data mnist`), or nil for
    /// synthetic pixels.
    private func timedBatch() throws -> Tensor? {
        guard data == .mnist else { return nil }
        let mnist = try loadDataset(.mnist, directory: dataDir, trainLimit: batchSize, testLimit: 1)
        guard mnist.train.count == batchSize else {
            throw ValidationError("--batch-size: MNIST has \(mnist.train.count) training images, got \(batchSize)")
        }
        let images = Tensor(zeros: [batchSize, 1, mnist.train.rows, mnist.train.cols])
        mnist.train.copyImages(0..<batchSize, into: images.data)
        return images
    }

    /// Every model at every width, each row printed as it is measured (unless --json).
    private func measureModels(images: Tensor?, sgemm: Double) -> [ModelBenchmark] {
        var results: [ModelBenchmark] = []
        for h in widths ?? [] {
            for (kind, d) in [(ModelKind.vae, 2), (.vae, 16), (.ae, 2), (.ae, 16)] {
                let config = ModelConfig(kind: kind, latentDim: d, hiddenUnits: h)
                let r = Benchmark.measure(
                    config, batch: batchSize, steps: steps, threads: threads, boundSamples: iwaeSamples, images: images,
                    sgemmGflops: sgemm)
                results.append(r)
                if !json { printRow(r) }
            }
        }
        return results
    }

    /// `jobs` runs side by side against one alone, each with one BLAS thread (`vaelab run --jobs N`).
    private func measureSideBySide() -> [ParallelScaling] {
        let saved = BLAS.threads
        defer { BLAS.threads = saved }
        BLAS.threads = 1
        return (widths ?? []).map { h in
            let p = Benchmark.parallelScaling(
                ModelConfig(kind: .vae, latentDim: 16, hiddenUnits: h), jobs: jobs, batch: batchSize)
            if !json {
                print(
                    "\(p.name.padded(14)) \(p.jobs) runs side by side (run --jobs \(p.jobs), 1 BLAS thread each): "
                        + "\(fixed(p.parallelImagesPerSecond, 0)) img/s = \(fixed(p.speedup, 2))x one run alone "
                        + "(\(fixed(p.singleImagesPerSecond, 0)) img/s); "
                        + "an in-cache sgemm: \(fixed(p.sgemmSpeedup, 2))x "
                        + "(medians of \(p.rounds) alternating rounds)")
            }
            return p
        }
    }

    /// The BLAS kernel, the peaks, vaelab's vector width and the fused col2im's verdict, and the
    /// hint when the environment forces a narrower kernel than the CPU has.
    private func printMachine(_ report: BenchmarkReport) {
        print(
            "BLAS core \(report.blasCore), \(counted(report.blasThreads, "thread")); sgemm 1024^3: "
                + "\(fixed(report.sgemmGflops, 1)) GFLOP/s"
                + (report.fmaPeakGflops.map { "; one core's FMA peak: \(fixed($0, 1)) GFLOP/s" } ?? "")
                + "; vaelab's kernels: \(Benchmark.vectorName(bits: report.kernelVectorBits))"
                + (report.fusedCol2imSpeedup.map {
                    "; W^T X in col2im's sweep: \(fixed($0, 2))x the two passes, \($0 > 1 ? "fused" : "not fused")"
                } ?? ""))
        if let hint = report.blasHint { print(hint) }
    }

    /// One model's per-layer split of a step, its GEMMs timed alone, and its bound pass's split.
    private func printBreakdown(_ model: ModelBenchmark) {
        printLayers(model.layers, title: "one step, \(model.name)")
        // With several threads the timed step's GEMMs are each worker's, on one BLAS thread.
        let whose = threads > 1 ? "one worker's GEMMs (its slice, one BLAS thread)" : "the step's GEMMs"
        print(
            """
              \(whose) timed alone as sgemm calls (operands in cache): \(fixed(model.gemmAloneMs, 1)) ms
              ceiling of the timed step (those GEMMs, other FLOPs at the peak, other passes free): \
            \(fixed(100 * model.efficiencyCeiling, 0))% of the sgemm peak
            """)
        printGEMMs(model.gemms, peak: model.sgemmGflops / Double(threads))
        if let b = model.bound {
            printLayers(
                b.layers, title: "one IWAE bound pass of \(model.name), k = \(b.samples) over \(b.images) images",
                backward: false)
        }
    }

    /// The step's GEMMs by shape (m x n x k of op(A) op(B)), each timed alone: calls, ms, GFLOP/s;
    /// the shapes under 1% of their summed time in one line.
    private func printGEMMs(_ gemms: [ModelBenchmark.GEMMTime], peak: Double) {
        print("  its GEMMs by shape, each timed alone (calls x ms per call = ms; GFLOP/s, share of the sgemm peak):")
        let sum = gemms.reduce(0) { $0 + $1.totalMs }
        let shown = gemms.filter { $0.totalMs >= 0.01 * sum }
        for g in shown {
            print(
                "    \(g.shape.description.padded(28)) \(fixed(Double(g.calls), 0, width: 3)) x \(fixed(g.msPerCall, 3)) "
                    + "= \(fixed(g.totalMs, 2, width: 6)) ms  \(fixed(g.gflops, 1, width: 6)) GFLOP/s  "
                    + "\(fixed(100 * g.gflops / peak, 0, width: 3))%")
        }
        if shown.count < gemms.count {
            let rest = sum - shown.reduce(0) { $0 + $1.totalMs }
            print("    \(gemms.count - shown.count) more shapes: \(fixed(rest, 2)) ms")
        }
    }

    /// A per-layer profile: ms per layer and pass, in brackets the part inside GEMM kernels, then the total.
    private func printLayers(_ layers: [ModelBenchmark.LayerTime], title: String, backward: Bool = true) {
        print(
            "\nPer-layer time of \(title) (ms, profiled separately; in brackets the part inside GEMM kernels: "
                + "sgemm, and GEMMs fused with col2im):")
        for l in layers where backward || l.forwardMs > 0 {
            let f =
                "  \(l.layer.padded(24)) forward \(fixed(l.forwardMs, 2, width: 7)) (\(fixed(l.forwardGEMMMs, 2, width: 6)))"
            print(
                backward
                    ? f + "  backward \(fixed(l.backwardMs, 2, width: 7)) (\(fixed(l.backwardGEMMMs, 2, width: 6)))" : f
            )
        }
        let total = layers.reduce(0) { $0 + $1.forwardMs + $1.backwardMs }
        let gemm = layers.reduce(0) { $0 + $1.forwardGEMMMs + $1.backwardGEMMMs }
        print(
            "  layers \(fixed(total, 1)) ms, of which GEMM kernels \(fixed(gemm, 1)) ms (\(fixed(100 * gemm / max(total, 1e-9), 0))%)"
        )
    }

    private func printRow(_ r: ModelBenchmark) {
        print(
            """
            \(r.name.padded(14)) \(fixed(r.msPerStep, 1, width: 7)) ms/step \
            \(fixed(r.imagesPerSecond, 0, width: 7)) img/s  
            """
                + "\(fixed(r.gflopPerStep, 2, width: 5)) GFLOP/step \(fixed(r.gflops, 1, width: 6)) GFLOP/s "
                + "\(fixed(100 * r.efficiency, 1, width: 5))% of sgemm (ceiling \(fixed(100 * r.efficiencyCeiling, 0))%)  "
                + "eval \(fixed(r.evalImagesPerSecond, 0, width: 6)) img/s (\(fixed(100 * r.evalEfficiency, 1))%)"
        )
        if let b = r.bound {
            print(
                "  IWAE bound k=\(b.samples): \(fixed(b.imagesPerSecond, 1)) img/s, "
                    + "\(fixed(b.decodesPerSecond, 0)) decodes/s, \(fixed(b.gflops, 1)) GFLOP/s, "
                    + "\(fixed(100 * b.efficiency, 1))% of sgemm")
        }
    }
}

/// The pixels `vaelab bench` times.
enum BenchData: String, ExpressibleByArgument, CaseIterable {
    case mnist, uniform
}
