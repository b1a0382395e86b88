import Datasets
import Dispatch
import Foundation
import Models
import NNKernels
import NeuralNet
import Support

/// Timing of one model's training step (and evaluation forward pass) on synthetic data.
public struct ModelBenchmark: Codable, Sendable {
    public struct LayerTime: Codable, Sendable {
        public var layer: String
        public var forwardMs: Double
        public var backwardMs: Double
        /// The part of forwardMs / backwardMs spent inside GEMM kernels (`BLAS.gemm`, and the
        /// kernels `BLAS.countedAsGEMM` counts).
        public var forwardGEMMMs: Double
        public var backwardGEMMMs: Double
        enum CodingKeys: String, CodingKey {
            case layer
            case forwardMs = "forward_ms"
            case backwardMs = "backward_ms"
            case forwardGEMMMs = "forward_gemm_ms"
            case backwardGEMMMs = "backward_gemm_ms"
        }
    }
    /// One GEMM shape of the step: how often it is called and its time alone.
    public struct GEMMTime: Codable, Sendable {
        public var shape: GEMMShape
        public var calls: Int
        /// One call, operands in cache (`BLAS.secondsAlone`).
        public var msPerCall: Double
        public var gflops: Double
        public var totalMs: Double { Double(calls) * msPerCall }
        enum CodingKeys: String, CodingKey {
            case shape, calls, gflops
            case msPerCall = "ms_per_call"
        }
    }
    public var name: String
    public var kind: String
    public var latentDim: Int
    public var hiddenUnits: Int
    public var batchSize: Int
    public var msPerStep: Double
    public var imagesPerSecond: Double
    public var gflopPerStep: Double
    public var gflops: Double
    public var sgemmGflops: Double
    public var efficiency: Double
    /// The step's GEMMs (also those fused with other work), each timed alone as an sgemm call
    /// with its operands in cache, summed (ms). With several threads, one worker's: those of its
    /// slice of the batch, on one BLAS thread.
    public var gemmAloneMs: Double
    /// The best `efficiency` the step could reach with OpenBLAS: its GEMMs as fast as alone
    /// (`gemmAloneMs`), every other FLOP at the sgemm peak and every other pass free.
    public var efficiencyCeiling: Double
    /// Those GEMMs by shape, the costliest first.
    public var gemms: [GEMMTime]
    public var evalImagesPerSecond: Double
    /// The evaluation pass's GFLOP/s (encoder and decoder once per image, counted as the step
    /// counts them) over the sgemm peak.
    public var evalEfficiency: Double
    public var layers: [LayerTime]
    /// The IWAE bound's evaluation, for models with a posterior when measured.
    public var bound: BoundBenchmark?

    enum CodingKeys: String, CodingKey {
        case name, kind, layers, gflops, efficiency, gemms
        case latentDim = "latent_dim"
        case hiddenUnits = "hidden_units"
        case batchSize = "batch_size"
        case msPerStep = "ms_per_step"
        case imagesPerSecond = "images_per_second"
        case gflopPerStep = "gflop_per_step"
        case sgemmGflops = "sgemm_gflops"
        case evalImagesPerSecond = "eval_images_per_second"
        case evalEfficiency = "eval_efficiency"
        case bound = "iwae_bound"
        case gemmAloneMs = "gemm_alone_ms"
        case efficiencyCeiling = "efficiency_ceiling"
    }
}

/// Throughput of the IWAE bound on -log p(x) as a run evaluates it (`Evaluation.nllBound`):
/// the encoder once per image, the decoder and the likelihood k times, log-sum-exp per image.
public struct BoundBenchmark: Codable, Sendable {
    /// k, the importance samples per image.
    public var samples: Int
    public var images: Int
    public var seconds: Double
    public var imagesPerSecond: Double
    /// Decoded codes per second: images * k / seconds.
    public var decodesPerSecond: Double
    /// Forward FLOPs (the encoder on the images, the decoder on images * k codes) per second.
    public var gflops: Double
    public var efficiency: Double
    /// One profiled pass, layer by layer (forward only).
    public var layers: [ModelBenchmark.LayerTime]

    enum CodingKeys: String, CodingKey {
        case samples, images, seconds, gflops, efficiency, layers
        case imagesPerSecond = "images_per_second"
        case decodesPerSecond = "decodes_per_second"
    }

    /// The rates of one bound pass of `model` over `images` images with k = `samples`, timed at
    /// `seconds`, against the sgemm peak.
    init(
        _ model: any AutoencoderModel, images: Int, samples: Int, seconds: Double, sgemmGflops: Double,
        layers: [ModelBenchmark.LayerTime]
    ) {
        let flops = Double(model.flops(batch: images, decoderRows: images * samples).forward)
        self.samples = samples
        self.images = images
        self.seconds = seconds
        imagesPerSecond = Double(images) / seconds
        decodesPerSecond = Double(images * samples) / seconds
        gflops = flops / seconds / 1e9
        efficiency = gflops / sgemmGflops
        self.layers = layers
    }
}

/// Training runs side by side in one process, as `vaelab run --jobs N` trains them (one BLAS
/// thread each), against one run alone: measured in alternating rounds, so that both see the
/// same machine.
public struct ParallelScaling: Codable, Sendable {
    public var name: String
    public var jobs: Int
    public var rounds: Int
    /// One run alone, images/s (median over rounds).
    public var singleImagesPerSecond: Double
    /// All `jobs` runs together, images/s added (median over rounds).
    public var parallelImagesPerSecond: Double
    /// Median over rounds of parallel / single within the round.
    public var speedup: Double
    /// The same ratio for an in-cache sgemm (`Benchmark.sgemmScaling`): what the machine gives
    /// compute-bound work on `jobs` cores at once (shared clocks, a busy host), the ceiling for
    /// `speedup`.
    public var sgemmSpeedup: Double

    enum CodingKeys: String, CodingKey {
        case name, jobs, rounds, speedup
        case singleImagesPerSecond = "single_images_per_second"
        case parallelImagesPerSecond = "parallel_images_per_second"
        case sgemmSpeedup = "sgemm_speedup"
    }
}

public struct BenchmarkReport: Codable, Sendable {
    public var blasCore: String
    public var blasThreads: Int
    public var sgemmGflops: Double
    /// One core's FMA peak (`Benchmark.fmaPeakGFLOPs`), where measured.
    public var fmaPeakGflops: Double?
    /// The widest vectors vaelab's own kernels ran with (`Benchmark.kernelVectorBits`).
    public var kernelVectorBits: Int
    /// `FusedCol2im.speedup`: the transposed convolutions' W^T X in col2im's sweep against the two
    /// passes (fused where above 1), where the sweep can run.
    public var fusedCol2imSpeedup: Double?
    public var models: [ModelBenchmark]
    /// `BLASKernelAdvice.hint`, when the kernel is narrower than the CPU supports.
    public var blasHint: String?
    /// Runs side by side in one process (`vaelab run --jobs N`), when measured.
    public var parallel: [ParallelScaling]
    /// The timed pixels: "mnist" (the first training images) or "uniform" (synthetic).
    public var data: String
    public init(
        blasCore: String, blasThreads: Int, sgemmGflops: Double, fmaPeakGflops: Double? = nil,
        kernelVectorBits: Int = Benchmark.kernelVectorBits, fusedCol2imSpeedup: Double? = FusedCol2im.speedup,
        models: [ModelBenchmark], blasHint: String? = nil, parallel: [ParallelScaling] = [], data: String = "uniform"
    ) {
        self.fmaPeakGflops = fmaPeakGflops
        self.fusedCol2imSpeedup = fusedCol2imSpeedup
        self.kernelVectorBits = kernelVectorBits
        self.data = data
        self.blasCore = blasCore
        self.blasThreads = blasThreads
        self.sgemmGflops = sgemmGflops
        self.models = models
        self.blasHint = blasHint
        self.parallel = parallel
    }
    enum CodingKeys: String, CodingKey {
        case blasCore = "blas_core"
        case blasThreads = "blas_threads"
        case sgemmGflops = "sgemm_gflops"
        case fmaPeakGflops = "fma_peak_gflops"
        case kernelVectorBits = "kernel_vector_bits"
        case fusedCol2imSpeedup = "fused_col2im_speedup"
        case models
        case blasHint = "blas_hint"
        case parallel, data
    }
}

public enum Benchmark {
    /// The best GFLOP/s of a square n^3 sgemm (C = A * B, 2 n^3 FLOPs) over `repeats` timings
    /// after two untimed ones: a peak, so the best (a busy host only ever slows a timing down;
    /// the median, used before, read as low as 2/3 of what the layers' own GEMMs reached).
    public static func sgemmGFLOPs(size n: Int = 1024, repeats: Int = 9) -> Double {
        var rng = Xoshiro256(seed: 1)
        let a = Tensor(zeros: [n, n])
        let b = Tensor(zeros: [n, n])
        let c = Tensor(zeros: [n, n])
        for i in 0..<a.count {
            a.data[i] = rng.uniform(-1, 1)
            b.data[i] = rng.uniform(-1, 1)
        }
        func once() -> Double {
            let t0 = monotonicSeconds()
            BLAS.gemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n, openBLASOnly: true)
            return monotonicSeconds() - t0
        }
        _ = once()
        _ = once()
        let times = (0..<repeats).map { _ in once() }
        return 2 * Double(n * n * n) / times.min()! / 1e9
    }

    /// The widest vectors vaelab's own kernels (NNKernels) run with on this machine: 512 (AVX-512),
    /// 256 (AVX2), 128 (x86-64 baseline), 0 (not x86-64). A build with VL_AVX2_ONLY (`make
    /// bench-avx2`) stops at 256: the AVX2 machine's code path.
    public static var kernelVectorBits: Int { Int(vl_vector_bits()) }

    /// "AVX-512", "AVX2", "SSE2" or "no SIMD" for `kernelVectorBits`.
    public static func vectorName(bits: Int) -> String {
        [512: "AVX-512", 256: "AVX2", 128: "SSE2"][bits] ?? "no SIMD"
    }

    /// One core's float32 FMA peak in GFLOP/s (`vl_fma_peak_flops`: the widest FMAs, every pipe
    /// busy), the best of `repeats` timings; nil where the CPU has no FMA unit. The limit the
    /// sgemm peak and every kernel here sit under.
    public static func fmaPeakGFLOPs(repeats: Int = 9) -> Double? {
        var sink: Float = 0
        var best = 0.0
        for _ in 0..<repeats {
            let t0 = monotonicSeconds()
            let flops = vl_fma_peak_flops(2_000_000, &sink)
            if flops == 0 { return nil }
            best = max(best, flops / (monotonicSeconds() - t0) / 1e9)
        }
        return best
    }

    /// Times `steps` training steps (after `warmup`) of the given model on `images` [batch, 1,
    /// H, W] (synthetic [0, 1] pixels when nil), then profiles a few more steps layer by layer. With `threads` > 1
    /// the training step and the evaluation pass are `vaelab train --threads`'s (each batch split
    /// over `DataParallelStep`'s workers, one BLAS thread each); the per-layer profile is the
    /// one-thread step's, run with `threads` BLAS threads. With `boundSamples` k > 0, a model
    /// with a posterior also times the IWAE bound with k samples over the batch's images.
    public static func measure(
        _ config: ModelConfig, batch: Int = 128, warmup: Int = 3, steps: Int = 12,
        threads: Int = 1, boundSamples: Int = 0, images: Tensor? = nil, sgemmGflops: Double
    ) -> ModelBenchmark {
        let bench = Fixture(config, batch: batch, images: images)
        let model = bench.model
        let parallel = threads > 1 ? DataParallelStep(model: model, workers: threads) : nil
        let blasThreads = BLAS.threads
        if parallel != nil { BLAS.threads = 1 }
        let stepTime = median(timed(warmup: warmup, count: steps) { bench.step(parallel) })
        // The evaluation forward pass, split the same way and with the weights frozen, as `vaelab
        // train --threads` evaluates (which freezes them once per pass over the test set).
        let evalTime = median(
            Evaluation.frozen(model, parallel) { timed(warmup: warmup, count: steps) { bench.evaluate(parallel) } })
        let timeBound = model.hasPosterior && boundSamples > 0
        let boundSeconds =
            timeBound ? timeNLLBound(model, images: bench.x, samples: boundSamples, parallel: parallel) : 0
        // The timed step's GEMMs, each timed alone; with workers, worker 0's (its slice's, on its
        // one BLAS thread: the shapes recorded are those of the caller's thread).
        let gemmAlone = secondsAlone(BLAS.recordingShapes { bench.step(parallel) })
        BLAS.threads = blasThreads

        let layers = profile(model, passes: 4) { bench.step(nil) }
        let bound =
            timeBound
            ? BoundBenchmark(
                model, images: batch, samples: boundSamples, seconds: boundSeconds, sgemmGflops: sgemmGflops,
                layers: profile(model, passes: 1) {
                    _ = timeNLLBound(model, images: bench.x, samples: boundSamples, warmup: false)
                }) : nil

        let flops = model.flops(batch: batch)
        let flop = Double(flops.trainingStep)
        let gflops = flop / stepTime / 1e9
        // The step with its GEMMs as fast as alone and every other FLOP at the peak; with
        // workers, each does its share of the FLOPs on its core, at its share of the peak.
        let cores = Double(parallel?.workers ?? 1)
        let floor = gemmAlone.seconds + max(flop / cores - gemmAlone.flops, 0) / (sgemmGflops / cores * 1e9)
        return ModelBenchmark(
            name: name(config), kind: config.kind.rawValue,
            latentDim: config.latentDim, hiddenUnits: config.hiddenUnits,
            batchSize: batch, msPerStep: stepTime * 1000, imagesPerSecond: Double(batch) / stepTime,
            gflopPerStep: flop / 1e9, gflops: gflops, sgemmGflops: sgemmGflops, efficiency: gflops / sgemmGflops,
            gemmAloneMs: gemmAlone.seconds * 1000, efficiencyCeiling: flop / floor / 1e9 / sgemmGflops,
            gemms: gemmAlone.shapes,
            evalImagesPerSecond: Double(batch) / evalTime,
            evalEfficiency: Double(flops.forward) / evalTime / 1e9 / sgemmGflops, layers: layers, bound: bound)
    }

    /// A model's row name: "vae-d16-h256".
    static func name(_ config: ModelConfig) -> String {
        "\(config.kind.rawValue)-d\(config.latentDim)-h\(config.hiddenUnits)"
    }

    /// One model, its optimiser, a batch and the noise stream: what `measure` and
    /// `parallelScaling` time (one thread at a time steps a fixture).
    final class Fixture: @unchecked Sendable {
        let model: any AutoencoderModel
        let adam: Adam
        let x: Tensor
        var noise: Xoshiro256

        /// `images` [batch, 1, H, W], or synthetic [0, 1] pixels from the seed's eval stream when nil.
        init(_ config: ModelConfig, batch: Int, images: Tensor?, seed: UInt64 = 0) {
            model = ModelRegistry.make(config)
            model.initialize(seed: seed)
            adam = Adam(count: model.parameterCount)
            noise = Xoshiro256(seed: seed, stream: .noise)
            x = Tensor(zeros: [batch, 1, config.imageHeight, config.imageWidth])
            if let images {
                precondition(images.shape == x.shape, "benchmark images \(images.shape), expected \(x.shape)")
                x.copy(from: images)
            } else {
                var pixels = Xoshiro256(seed: seed, stream: .eval)
                for i in 0..<x.count { x.data[i] = pixels.uniform() }
            }
        }

        /// One training step (split over `parallel`'s workers when given), in a run's `SubnormalMode`.
        func step(_ parallel: DataParallelStep?) {
            SubnormalMode.flushing {
                _ =
                    parallel?.trainStep(x, beta: 1, noise: &noise, optimizer: adam)
                    ?? model.trainStep(x, beta: 1, noise: &noise, optimizer: adam)
            }
        }

        /// One evaluation forward pass: encoder, then the decoder on the posterior mean.
        func evaluate(_ parallel: DataParallelStep?) {
            SubnormalMode.flushing {
                if let parallel {
                    parallel.forEachSlice(rowsOf: x) { replica, rows, _ in
                        _ = replica.decode(replica.encode(rows).mu)
                    }
                } else {
                    _ = model.decode(model.encode(x).mu)
                }
            }
        }
    }

    /// Seconds of each of `count` runs of `body`, after `warmup` untimed ones.
    static func timed(warmup: Int, count: Int, _ body: () -> Void) -> [Double] {
        for _ in 0..<warmup { body() }
        return (0..<count).map { _ in
            let t0 = monotonicSeconds()
            body()
            return monotonicSeconds() - t0
        }
    }

    /// Seconds of one `Evaluation.nllBound` pass with k = `samples` over the images of x (as a
    /// split of the dataset, whose bytes round `--data uniform`'s pixels to multiples of 1/255: the
    /// same work), after an untimed pass with one sample when `warmup`.
    static func timeNLLBound(
        _ model: any AutoencoderModel, images x: Tensor, samples: Int, parallel: DataParallelStep? = nil,
        warmup: Bool = true
    ) -> Double {
        let n = x.shape[0]
        let split = DatasetSplit(
            images: Array(x.buffer), labels: [UInt8](repeating: 0, count: n), count: n, rows: x.shape[2],
            cols: x.shape[3])
        var rng = Xoshiro256(seed: 0, stream: .eval)
        return SubnormalMode.flushing {
            if warmup { _ = Evaluation.nllBound(model, images: split, samples: 1, rng: &rng, parallel: parallel) }
            let t0 = monotonicSeconds()
            _ = Evaluation.nllBound(model, images: split, samples: samples, rng: &rng, parallel: parallel)
            return monotonicSeconds() - t0
        }
    }

    /// The summed seconds and FLOPs of `calls`, each shape timed alone once (`BLAS.secondsAlone`),
    /// and the shapes' times, the costliest first.
    static func secondsAlone(_ calls: [GEMMShape]) -> (
        seconds: Double, flops: Double, shapes: [ModelBenchmark.GEMMTime]
    ) {
        var counts: [GEMMShape: Int] = [:]
        for s in calls { counts[s, default: 0] += 1 }
        let shapes = counts.map { shape, n in
            let t = BLAS.secondsAlone(shape)
            return ModelBenchmark.GEMMTime(
                shape: shape, calls: n, msPerCall: t * 1000, gflops: Double(shape.flops) / t / 1e9)
        }.sorted { $0.totalMs > $1.totalMs }
        let seconds = shapes.reduce(0.0) { $0 + $1.totalMs / 1000 }
        return (seconds, Double(calls.reduce(0) { $0 + $1.flops }), shapes)
    }

    /// Layer times (ms per pass, and their parts inside GEMM kernels) over `passes` runs of `body`.
    static func profile(_ model: any AutoencoderModel, passes: Int, _ body: () -> Void) -> [ModelBenchmark.LayerTime] {
        let profiler = Profiler()
        model.setProfiler(profiler)
        BLAS.timesGEMM = true
        for _ in 0..<passes { body() }
        BLAS.timesGEMM = false
        model.setProfiler(nil)
        let ms = 1000 / Double(passes)
        return profiler.order.map { key in
            let e = profiler.entries[key]!
            return .init(
                layer: key, forwardMs: e.forward * ms, backwardMs: e.backward * ms,
                forwardGEMMMs: e.forwardGEMM * ms, backwardGEMMMs: e.backwardGEMM * ms)
        }
    }

    /// `jobs` independent training runs of `config` stepping at once on their own threads (one
    /// BLAS thread each: the caller sets `BLAS.threads`), against the first of them alone.
    /// Each round times `steps` steps of one run, then `steps` steps of every run together
    /// (wall time until the last finishes); the medians over `rounds` are reported.
    public static func parallelScaling(
        _ config: ModelConfig, jobs: Int, batch: Int = 128, rounds: Int = 7,
        steps: Int = 6
    ) -> ParallelScaling {
        precondition(jobs >= 1 && rounds >= 1 && steps >= 1)
        // Run i is stepped by thread i only.
        let runs = (0..<jobs).map { Fixture(config, batch: batch, images: nil, seed: UInt64($0)) }
        let (single, parallel, ratio) = sideBySide(jobs: jobs, rounds: rounds, warmup: 2) { i, warmup in
            for _ in 0..<(warmup ? 2 : steps) { runs[i].step(nil) }
        }
        return ParallelScaling(
            name: name(config), jobs: jobs,
            rounds: rounds, singleImagesPerSecond: Double(batch * steps) * single,
            parallelImagesPerSecond: Double(batch * steps) * parallel, speedup: ratio,
            sgemmSpeedup: sgemmScaling(jobs: jobs, rounds: rounds))
    }

    /// Throughput of `jobs` threads each running an n^3 sgemm `repeats` times on its own
    /// matrices (in L2 for the default n), over one thread alone: the machine's scaling for
    /// compute-bound work. Median over `rounds` alternating rounds.
    public static func sgemmScaling(jobs: Int, size n: Int = 256, repeats: Int = 300, rounds: Int = 7) -> Double {
        final class Product: @unchecked Sendable {  // one thread per product, as in parallelScaling
            let a: Tensor, b: Tensor, c: Tensor
            init(_ n: Int, seed: UInt64) {
                var rng = Xoshiro256(seed: seed)
                (a, b, c) = (Tensor(zeros: [n, n]), Tensor(zeros: [n, n]), Tensor(zeros: [n, n]))
                for i in 0..<a.count {
                    a.data[i] = rng.uniform(-1, 1)
                    b.data[i] = rng.uniform(-1, 1)
                }
            }
            func run(_ n: Int, _ times: Int) {
                for _ in 0..<times {
                    BLAS.gemm(
                        m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n, openBLASOnly: true)
                }
            }
        }
        let products = (0..<jobs).map { Product(n, seed: UInt64($0)) }
        return sideBySide(jobs: jobs, rounds: rounds, warmup: 1) { i, warmup in
            products[i].run(n, warmup ? 2 : repeats)
        }.ratio
    }

    /// Rounds of `work(0)` alone, then `work(i)` for every i on `jobs` threads at once (wall
    /// time until the last ends), after `warmup` such rounds untimed. Returns the medians of the
    /// rates (1 / seconds: one work item alone; all of them together) and of their ratio.
    static func sideBySide(
        jobs: Int, rounds: Int, warmup: Int,
        _ work: @escaping @Sendable (Int, _ warmup: Bool) -> Void
    ) -> (single: Double, parallel: Double, ratio: Double) {
        // One thread of its own per extra work item, the caller's for the first: libdispatch's
        // concurrentPerform sometimes ran the short sgemm items one after the other here (its
        // thread pool holds back workers when it judges the CPUs busy), which measured ~1.0x.
        func together(_ warm: Bool) -> Double {
            let done = DispatchSemaphore(value: 0)
            let t0 = monotonicSeconds()
            for i in 1..<jobs {
                Thread {
                    work(i, warm)
                    done.signal()
                }.start()
            }
            work(0, warm)
            for _ in 1..<jobs { done.wait() }
            return monotonicSeconds() - t0
        }
        for _ in 0..<warmup { _ = together(true) }
        var single: [Double] = []
        var parallel: [Double] = []
        var ratio: [Double] = []
        for _ in 0..<rounds {
            let t0 = monotonicSeconds()
            work(0, false)
            let alone = 1 / (monotonicSeconds() - t0)
            let all = Double(jobs) / together(false)
            single.append(alone)
            parallel.append(all)
            ratio.append(all / alone)
        }
        return (median(single), median(parallel), median(ratio))
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// Whether the BLAS kernel in use is narrower than the CPU's vector units allow: the bench's
/// one-line hint. vaelab only reports this; it never changes the user's BLAS environment.
public enum BLASKernelAdvice {
    /// Vector width classes, narrowest first.
    public enum ISA: Int, Comparable, Sendable, CustomStringConvertible {
        case sse = 0
        case avx
        case avx2
        case avx512
        public static func < (a: ISA, b: ISA) -> Bool { a.rawValue < b.rawValue }
        public var description: String { ["SSE", "AVX", "AVX2", "AVX-512"][rawValue] }
    }

    /// The widest vector ISA an OpenBLAS x86 kernel (`openblas_get_corename`) uses.
    public static func isa(ofCore name: String) -> ISA {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return .avx512
        case "haswell", "zen", "excavator": return .avx2
        case "sandybridge", "bulldozer", "piledriver", "steamroller": return .avx
        default: return .sse
        }
    }

    /// The widest vector ISA in a set of /proc/cpuinfo flags.
    public static func isa(ofCPUFlags flags: Set<String>) -> ISA {
        if flags.contains("avx512f") { return .avx512 }
        if flags.contains("avx2") && flags.contains("fma") { return .avx2 }
        if flags.contains("avx") { return .avx }
        return .sse
    }

    /// This machine's CPU flags (empty where /proc/cpuinfo is unreadable).
    public static var cpuFlags: Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// One line when the kernel is narrower than the CPU supports, naming the variable that
    /// forced it if one is set; nil when the kernel matches the CPU. `kernelBits`: the vector
    /// width vaelab's own kernels run with (`Benchmark.kernelVectorBits`; 256 in `make bench-avx2`).
    public static func hint(
        core: String, cpuFlags: Set<String>, environment: [String: String],
        kernelBits: Int = Benchmark.kernelVectorBits
    ) -> String? {
        let kernel = isa(ofCore: core)
        let cpu = isa(ofCPUFlags: cpuFlags)
        guard kernel < cpu else { return nil }
        let forced = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"].compactMap { key in
            environment[key].map { "\(key)=\($0)" }
        }
        let cause =
            forced.isEmpty
            ? "OpenBLAS chose it"
            : "the environment forces it (\(forced.joined(separator: ", "))); "
                + "unset \(forced.count == 1 ? "it" : "them") for one command to compare"
        // vl_sgemm reproduces the Haswell (and Zen) kernel's bits at AVX-512 width (nn_gemm.c);
        // without AVX-512 kernels every product runs in OpenBLAS.
        let own =
            BLAS.ownKernels[core]?.order == VL_GEMM_HASWELL && cpu == .avx512 && kernelBits == 512
            ? "; the model's large GEMMs run in vaelab's own \(cpu) kernel with that kernel's bits, so a step "
                + "can pass the sgemm peak above" : ""
        return
            """
            hint: this CPU supports \(cpu) but OpenBLAS runs its \(core) kernel (\(kernel)): \(cause); vaelab \
            leaves the BLAS environment as it is\(own)
            """
    }
}
