import CBLAS
import Support

/// The only file that talks to OpenBLAS: a checked `sgemm` wrapper and thread/core queries.
public enum BLAS {
    /// C = alpha * op(A) * op(B) + beta * C, row-major. op(A) is m x k, op(B) is k x n, C is m x n.
    /// Leading dimensions are those of the stored (untransposed) matrices.
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative size m=\(m) n=\(n) k=\(k)")
        precondition(
            lda >= max(1, transA ? m : k) && ldb >= max(1, transB ? k : n) && ldc >= max(1, n),
            "gemm: leading dimension too small (m=\(m) n=\(n) k=\(k) lda=\(lda) ldb=\(ldb) ldc=\(ldc))")
        precondition(max(m, n, k, lda, ldb, ldc) <= Int(Int32.max), "gemm: size exceeds Int32")
        if m == 0 || n == 0 { return }
        let t0 = timesGEMM ? monotonicSeconds() : 0
        defer { if timesGEMM { gemmSeconds += monotonicSeconds() - t0 } }
        cblas_sgemm(
            CblasRowMajor,
            transA ? CblasTrans : CblasNoTrans,
            transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// When true, `gemm` adds its wall time to `gemmSeconds`: the benchmark's per-layer split of
    /// GEMM and non-GEMM time. Process-wide and unsynchronised: for single-threaded profiling only.
    nonisolated(unsafe) public static var timesGEMM = false
    nonisolated(unsafe) public static var gemmSeconds = 0.0

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

    /// OpenBLAS build configuration string.
    public static var configuration: String {
        guard let p = openblas_get_config() else { return "unknown" }
        return String(cString: p)
    }
}
