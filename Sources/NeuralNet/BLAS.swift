import CBLAS
import NNKernels
import Support

/// The only file that talks to OpenBLAS: a checked `sgemm` (OpenBLAS, or `vl_sgemm` for the
/// convolutions' products) and thread/core queries.
public enum BLAS {
    /// C = alpha * op(A) * op(B) + beta * C, row-major. op(A) is m x k, op(B) is k x n, C is m x n.
    /// Leading dimensions are those of the stored (untransposed) matrices.
    ///
    /// The large products (the convolutions' and dense layers') run in `vl_sgemm`, which reads
    /// the large operand where it lies instead of packing it, with OpenBLAS's bits; the rest in
    /// OpenBLAS, and every product when OpenBLAS has more than one thread (`vl_sgemm` has one)
    /// or runs a kernel other than its AVX-512 and Haswell (or Zen) ones (`ownKernelKBlock`), or
    /// without AVX-512. `openBLASOnly`: OpenBLAS regardless (its peak). `transposedB`: with transB,
    /// B^T itself [k, n] (row stride n), which `vl_sgemm_bt` reads instead of transposing b in the
    /// call; the bits are the same (OpenBLAS reads b).
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        openBLASOnly: Bool = false, transposedB: UnsafePointer<Float>? = nil
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative size m=\(m) n=\(n) k=\(k)")
        precondition(
            lda >= max(1, transA ? m : k) && ldb >= max(1, transB ? k : n) && ldc >= max(1, n),
            "gemm: leading dimension too small (m=\(m) n=\(n) k=\(k) lda=\(lda) ldb=\(ldb) ldc=\(ldc))")
        precondition(max(m, n, k, lda, ldb, ldc) <= Int(Int32.max), "gemm: size exceeds Int32")
        precondition(transposedB == nil || (transB && !transA), "gemm: transposedB is B^T for A B^T only")
        if m == 0 || n == 0 { return }
        _ = countedAsGEMM(GEMMShape(transA: transA, transB: transB, m: m, n: n, k: k)) {
            if !openBLASOnly, alpha == 1, let kq = ownKernelKBlock(m: m, n: n, k: k) {
                let ran =
                    if let bt = transposedB {
                        vl_sgemm_bt(m, n, k, a, lda, bt, n, beta, c, ldc, kq, ownKernel)
                    } else {
                        vl_sgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, a, lda, b, ldb, beta, c, ldc, kq, ownKernel)
                    }
                if ran != 0 { return true }
            }
            cblas_sgemm(
                CblasRowMajor,
                transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return true
        }
    }

    /// The K block with which `gemm` hands an m x n x k product to `vl_sgemm` (and `FusedCol2im`
    /// may run it inside `vl_deconv3x3s2_forward`, with the same bits), or nil where OpenBLAS
    /// computes it.
    public static func ownKernelKBlock(m: Int, n: Int, k: Int) -> Int? {
        guard m * n * k >= ownKernelMinimum, openblas_get_num_threads() == 1 else { return nil }
        return ownKernelKBlock
    }

    /// Runs `kernel`, which computes a product of `shape` (`gemm`'s, or one fused with other work:
    /// `FusedCol2im`), and when it ran (returned true) counts it for the benchmark: its shape is
    /// recorded and its time added to `gemmSeconds`.
    public static func countedAsGEMM(_ shape: GEMMShape, _ kernel: () -> Bool) -> Bool {
        let t0 = timesGEMM ? monotonicSeconds() : 0
        guard kernel() else { return false }
        if timesGEMM { gemmSeconds += monotonicSeconds() - t0 }
        recorder?.shapes.append(shape)
        return true
    }

    /// The smallest m n k that `gemm` hands to `vl_sgemm`. Below about 100^3 OpenBLAS takes its
    /// small-matrix kernels, whose summation order differs.
    static let ownKernelMinimum = 1 << 21
    /// OpenBLAS's sgemm kernels whose bits `vl_sgemm` reproduces, by core name: their K block
    /// (GEMM_Q; the same FMA chains within a block) and their order (Haswell's sums two chains in
    /// some tiles, the AVX-512 kernels never). OpenBLAS 0.3.21 runs its Haswell kernel for Zen too,
    /// with the same blocks and bits. Every other kernel keeps OpenBLAS.
    public static let ownKernels: [String: (kBlock: Int, order: vl_gemm_kernel)] = [
        "Cooperlake": (320, VL_GEMM_AVX512), "SkylakeX": (448, VL_GEMM_AVX512),
        "Haswell": (320, VL_GEMM_HASWELL), "Zen": (320, VL_GEMM_HASWELL),
    ]
    /// This core's entry in `ownKernels`: its K block, nil where OpenBLAS keeps every product.
    public static let ownKernelKBlock = ownKernels[coreName]?.kBlock
    /// This core's order (`ownKernels`).
    public static let ownKernel = ownKernels[coreName]?.order ?? VL_GEMM_AVX512
    /// Whether `FusedCol2im` may compute W^T X inside col2im: where `vl_sgemm` would compute it with
    /// one chain per element (the AVX-512 kernels), on an AVX-512 CPU.
    public static var fusesCol2im: Bool {
        ownKernelKBlock != nil && ownKernel == VL_GEMM_AVX512 && vl_vector_bits() == 512
    }

    /// When true, `gemm` adds its wall time to `gemmSeconds`: the benchmark's per-layer split of
    /// GEMM and non-GEMM time. Process-wide and unsynchronised: for single-threaded profiling only.
    nonisolated(unsafe) public static var timesGEMM = false
    nonisolated(unsafe) public static var gemmSeconds = 0.0
    /// The shapes of the `gemm` calls that `body` makes on this task or thread (the benchmark's
    /// GEMM ceiling), in order.
    public static func recordingShapes(_ body: () throws -> Void) rethrows -> [GEMMShape] {
        let r = Recorder()
        try $recorder.withValue(r) { try body() }
        return r.shapes
    }
    @TaskLocal private static var recorder: Recorder?
    private final class Recorder: @unchecked Sendable { var shapes: [GEMMShape] = [] }

    /// The number of threads OpenBLAS uses for one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// The kernel OpenBLAS selected (e.g. "Haswell", "SkylakeX", "Zen").
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// Seconds of one `gemm` of this shape on operands already in cache: the best of `repeats`
    /// timings of `calls` back-to-back calls each (after one untimed call), per call.
    public static func secondsAlone(_ s: GEMMShape, calls: Int = 4, repeats: Int = 25) -> Double {
        let a = [Float](repeating: 0.5, count: max(s.m * s.k, 1))
        let b = [Float](repeating: 0.25, count: max(s.k * s.n, 1))
        var c = [Float](repeating: 0, count: max(s.m * s.n, 1))
        var best = Double.infinity
        c.withUnsafeMutableBufferPointer { c in
            func run() {
                gemm(
                    transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, a: a, lda: s.transA ? s.m : s.k,
                    b: b, ldb: s.transB ? s.k : s.n, c: c.baseAddress!, ldc: s.n)
            }
            run()
            for _ in 0..<repeats {
                let t0 = monotonicSeconds()
                for _ in 0..<calls { run() }
                best = min(best, (monotonicSeconds() - t0) / Double(calls))
            }
        }
        return best
    }

    /// OpenBLAS build configuration string.
    public static var configuration: String {
        guard let p = openblas_get_config() else { return "unknown" }
        return String(cString: p)
    }
}

/// The shape of one `BLAS.gemm` call: op(A) is m x k, op(B) is k x n.
public struct GEMMShape: Hashable, Sendable, Codable, CustomStringConvertible {
    public var transA: Bool, transB: Bool
    public var m: Int, n: Int, k: Int
    public var flops: Int { 2 * m * n * k }
    /// "m x n x k" with the transposed operands named: "288 x 784 x 64 (A^T)".
    public var description: String {
        let t = [transA ? "A^T" : nil, transB ? "B^T" : nil].compactMap { $0 }
        return "\(m) x \(n) x \(k)" + (t.isEmpty ? "" : " (\(t.joined(separator: ", ")))")
    }
    enum CodingKeys: String, CodingKey {
        case m, n, k
        case transA = "trans_a"
        case transB = "trans_b"
    }
}
