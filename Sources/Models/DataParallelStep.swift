import Foundation
import NeuralNet

/// A training step of one model spread over `workers` threads, for a single run on several
/// cores (`vaelab train --threads N`; a study instead runs whole runs side by side).
///
/// The batch is cut into `workers` contiguous slices of near-equal size. The model and
/// `workers - 1` replicas of it each run forward, loss and backward on one slice on their own
/// thread, every GEMM on one BLAS thread (the caller sets `BLAS.threads = 1`: the threads already
/// fill the cores); each slice's gradient is its share of the whole batch's mean. The replicas'
/// weights are views of the model's (`ParameterStore.shareValues`), so the threads read one copy
/// of them and nothing is copied back; each replica has its own gradient. The shares are then
/// added in slice order into the model's gradient and Adam updates the model, both split across
/// the threads by parameter range, in blocks that stay in cache from the sum to the update. The
/// reparameterisation noise of the whole batch is drawn first, as one thread draws it, and cut
/// the same way. The step equals the one-thread step up to float rounding (the gradient's sums
/// run in another order), and a run gives the same bits every time for the same number of
/// workers.
public final class DataParallelStep: @unchecked Sendable {
    /// The most workers a step takes: each holds a replica (its gradients and activations) and a
    /// thread, and past the cores (or past a batch's images) more only cost.
    public static let maxWorkers = 64
    /// Parameters summed and updated at a time: the block's gradients (16 KB) are still in L1
    /// when Adam reads them.
    public static let updateBlock = 4096

    public let model: any AutoencoderModel
    public let workers: Int
    private let replicas: [any AutoencoderModel]  // replicas[0] is `model`
    private let slices: [Tensor]  // each worker's rows of a batch
    private let eps = Tensor(zeros: [0])  // the whole batch's noise [N, noisePerImage]
    private let parts: UnsafeMutablePointer<LossParts>  // each worker writes its own element
    private let threads: WorkerThreads

    public init(model: any AutoencoderModel, workers: Int) {
        precondition((1...Self.maxWorkers).contains(workers), "workers must be in 1...\(Self.maxWorkers)")
        self.model = model
        self.workers = workers
        var replicas = [model]
        for _ in 1..<workers {
            let replica = model.makeReplica()
            replica.store.shareValues(of: model.store)
            replicas.append(replica)
        }
        self.replicas = replicas
        slices = (0..<workers).map { _ in Tensor(zeros: [0]) }
        parts = .allocate(capacity: workers)
        parts.initialize(repeating: LossParts(recon: 0, kl: 0, total: 0), count: workers)
        threads = WorkerThreads(count: workers - 1)
    }

    deinit { parts.deallocate() }

    /// One optimisation step on x [N, 1, H, W]: the same contract as `AutoencoderModel.trainStep`.
    public func trainStep(_ x: Tensor, beta: Float, noise: inout Xoshiro256, optimizer: Adam) -> LossParts {
        let n = x.shape[0]
        let width = model.noisePerImage
        if width > 0 {
            eps.resize([n, width])
            noise.fillNormal(eps.buffer)
        }
        threads.run { k in
            let r = self.rows(k, of: n)
            let replica = self.replicas[k]
            guard !r.isEmpty else {
                replica.store.zeroGradients()  // no backward pass sets them
                self.parts[k] = LossParts(recon: 0, kl: 0, total: 0)
                return
            }
            self.parts[k] =
                replica.forwardBackward(
                    self.copy(r, of: x, worker: k), beta: beta,
                    eps: width > 0 ? self.eps.data + r.lowerBound * width : nil, gradientBatch: n)
        }
        // Sum and update, each thread over its own range of the parameters (every element's
        // arithmetic is the same whichever thread does it, and whatever the block).
        let count = model.store.count
        let g = model.store.gradients
        let values = model.store.values
        let alpha = optimizer.advance()
        threads.run { k in
            let range = self.rows(k, of: count)
            for lo in stride(from: range.lowerBound, to: range.upperBound, by: Self.updateBlock) {
                let block = lo..<min(lo + Self.updateBlock, range.upperBound)
                for r in 1..<self.workers {
                    let gr = self.replicas[r].store.gradients
                    for i in block { g[i] += gr[i] }
                }
                optimizer.apply(values, gradients: g, range: block, alpha: alpha)
            }
        }
        // Each slice's losses are its own means: the batch's are their size-weighted mean.
        var recon = 0.0
        var kl = 0.0
        for k in 0..<workers {
            let share = Double(rows(k, of: n).count) / Double(n)
            recon += share * parts[k].recon
            kl += share * parts[k].kl
        }
        return LossParts(recon: recon, kl: kl, total: recon + Double(beta) * kl)  // the IWAE's beta is 1
    }

    /// Freezes (or thaws) the weights of the model and its replicas (`AutoencoderModel.freezeWeights`),
    /// each on its worker's thread: their dense layers transpose the shared weights side by side.
    public func freezeWeights(_ frozen: Bool) {
        threads.run { k in self.replicas[k].freezeWeights(frozen) }
    }

    /// Calls body(replica, rows, lo) for each worker whose slice [lo, lo + rows.shape[0]) of t's
    /// first dimension is not empty, on that worker's thread with its replica (holding the
    /// model's weights) and its own copy of those rows, and returns when all are done: evaluation
    /// cut the way a training batch is.
    public func forEachSlice(
        rowsOf t: Tensor, _ body: @escaping (_ replica: any AutoencoderModel, _ rows: Tensor, _ lo: Int) -> Void
    ) {
        let n = t.shape[0]
        threads.run { k in
            let r = self.rows(k, of: n)
            if !r.isEmpty { body(self.replicas[k], self.copy(r, of: t, worker: k), r.lowerBound) }
        }
    }

    /// Worker k's share of n items (a batch's images, or the parameters): contiguous, near-equal.
    private func rows(_ k: Int, of n: Int) -> Range<Int> { (k * n / workers)..<((k + 1) * n / workers) }

    /// Rows r of t in worker k's own buffer.
    private func copy(_ r: Range<Int>, of t: Tensor, worker k: Int) -> Tensor {
        let rowSize = t.count / t.shape[0]
        let slice = slices[k]
        slice.resize([r.count] + t.shape.dropFirst())
        slice.data.update(from: t.data + r.lowerBound * rowSize, count: r.count * rowSize)
        return slice
    }
}

/// `count` threads that wait for work; `run(body)` calls body(0) on the caller's thread and
/// body(1 ... count) on them, and returns when all have finished. The threads end when this
/// object is released.
final class WorkerThreads: @unchecked Sendable {
    /// What the threads share with the owner (they keep it alive after the owner is gone).
    private final class Shared: @unchecked Sendable {
        let start: [DispatchSemaphore]
        let done = DispatchSemaphore(value: 0)
        var body: ((Int) -> Void)?
        var mode: UInt32 = 0  // the caller's `SubnormalMode`, for the body's run
        var stopping = false
        init(count: Int) { start = (0..<count).map { _ in DispatchSemaphore(value: 0) } }
    }
    private let shared: Shared

    init(count: Int) {
        let shared = Shared(count: count)
        self.shared = shared
        for i in 0..<count {
            let thread = Thread {
                while true {
                    shared.start[i].wait()
                    if shared.stopping { return }
                    SubnormalMode.with(shared.mode) { shared.body?(i + 1) }
                    shared.done.signal()
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    deinit {
        shared.stopping = true
        for s in shared.start { s.signal() }
    }

    /// The threads compute in the caller's floating-point mode (`SubnormalMode`).
    func run(_ work: @escaping (Int) -> Void) {
        shared.mode = SubnormalMode.current
        shared.body = work
        for s in shared.start { s.signal() }
        work(0)
        for _ in shared.start { shared.done.wait() }
        shared.body = nil
    }
}
