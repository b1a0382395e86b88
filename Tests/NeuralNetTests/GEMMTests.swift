import NNKernels
import NeuralNet
import Testing

/// One product for `vl_sgemm`: op(A) m x k, op(B) k x n, C m x n stored with 3 spare columns
/// and a spare row, all filled with a sentinel that the kernel must leave alone.
struct GEMMProduct {
    let transA: Bool, transB: Bool, m: Int, n: Int, k: Int, beta: Float
    /// OpenBLAS's K block to reproduce: 320 (Cooperlake) or 448 (SkylakeX).
    let kq: Int
    let a: [Float], b: [Float], c0: [Float]
    /// Row strides one to three floats past the rows, so that no stride equals a row.
    let lda: Int, ldb: Int, ldc: Int
    static let sentinel: Float = 1e30

    init(
        _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, beta: Float = 0, kq: Int = 320, seed: UInt64 = 1
    ) {
        (self.transA, self.transB, self.m, self.n, self.k, self.beta, self.kq) = (transA, transB, m, n, k, beta, kq)
        (lda, ldb, ldc) = ((transA ? m : k) + 1, (transB ? k : n) + 2, n + 3)
        var rng = Xoshiro256(seed: seed)
        let (rowsA, rowsB, ldc) = (transA ? k : m, transB ? n : k, ldc)
        a = (0..<(rowsA * lda)).map { _ in rng.uniform(-1, 1) }
        b = (0..<(rowsB * ldb)).map { _ in rng.uniform(-1, 1) }
        c0 = (0..<((m + 1) * ldc)).map { i in i / ldc < m && i % ldc < n ? rng.uniform(-1, 1) : Self.sentinel }
    }

    func opA(_ i: Int, _ p: Int) -> Float { transA ? a[p * lda + i] : a[i * lda + p] }
    func opB(_ p: Int, _ j: Int) -> Float { transB ? b[j * ldb + p] : b[p * ldb + j] }

    /// What nn_gemm.c promises: per element, a chain of FMAs from zero over each of OpenBLAS's K
    /// blocks (kq while 2 kq remain, then two halves rounded up to 16), each added to C once.
    var expected: [Float] {
        var blocks: [Range<Int>] = []
        var start = 0
        while start < k {
            let rest = k - start
            let size = rest >= 2 * kq ? kq : rest > kq ? (rest / 2 + 15) / 16 * 16 : rest
            blocks.append(start..<(start + size))
            start += size
        }
        var c = c0
        for i in 0..<m {
            for j in 0..<n {
                for (index, block) in blocks.enumerated() {
                    var chain: Float = 0
                    for p in block { chain = chain.addingProduct(opA(i, p), opB(p, j)) }
                    c[i * ldc + j] = index == 0 && beta == 0 ? chain : c[i * ldc + j] + chain
                }
            }
        }
        return c
    }

    /// C after `vl_sgemm`, and whether it ran.
    func own() -> (c: [Float], ran: Bool) {
        var c = c0
        let ran = vl_sgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, a, lda, b, ldb, beta, &c, ldc, kq)
        return (c, ran != 0)
    }

    /// C after OpenBLAS's sgemm.
    func openBLAS() -> [Float] {
        var c = c0
        BLAS.gemm(
            transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &c,
            ldc: ldc, openBLASOnly: true)
        return c
    }
}

/// The first index where x and y differ in their bits (nil: none).
private func firstDifference(_ x: [Float], _ y: [Float]) -> Int? {
    x.count != y.count ? min(x.count, y.count) : x.indices.first { x[$0].bitPattern != y[$0].bitPattern }
}

@Suite("vl_sgemm: the convolutions' own GEMM")
struct GEMMTests {
    /// Every edge: rows and columns that fill no tile (m % 8, m % 6, n % 16, n % 48, n % 64), K
    /// inside one block, at the block boundaries and over three blocks, beta 0 and 1; B^T with
    /// fewer rows than columns and a long K (the swapped product C^T = B A^T) and without.
    static let products: [GEMMProduct] = [
        GEMMProduct(true, false, 19, 53, 64), GEMMProduct(true, false, 8, 48, 1, beta: 1),
        GEMMProduct(false, false, 13, 97, 320, beta: 1), GEMMProduct(false, false, 9, 33, 321),
        GEMMProduct(false, false, 7, 50, 576), GEMMProduct(true, false, 3, 17, 640, beta: 1),
        GEMMProduct(false, true, 13, 70, 784), GEMMProduct(false, true, 5, 64, 882, beta: 1),
        GEMMProduct(false, true, 1, 1, 1000), GEMMProduct(false, true, 17, 15, 37, seed: 2),
        GEMMProduct(false, true, 6, 64, 784, kq: 448), GEMMProduct(true, false, 9, 20, 1000, beta: 1, kq: 448),
        GEMMProduct(false, true, 70, 13, 784, beta: 1), GEMMProduct(false, true, 19, 53, 400, beta: 1, seed: 3),
        GEMMProduct(false, true, 33, 40, 700),
    ]

    @Test(arguments: products)
    func matchesTheBlockedChainsAndStaysInsideC(_ p: GEMMProduct) {
        let (c, ran) = p.own()
        guard ran else {
            #expect(firstDifference(c, p.c0) == nil, "declined, so C is untouched")
            return
        }
        #expect(firstDifference(c, p.expected) == nil)
    }

    /// The model's own shapes: the bits of OpenBLAS's own AVX-512 kernel (the claim that lets it
    /// replace OpenBLAS without changing any result), where OpenBLAS runs one.
    @Test(
        .enabled(if: BLAS.ownKernelKBlock != nil && BLAS.threads == 1),
        arguments: [
            (true, false, 288, 784, 64, 0), (false, false, 64, 784, 288, 0), (false, true, 288, 64, 784, 0),
            (false, false, 64, 196, 576, 1), (false, true, 576, 64, 196, 1), (true, false, 288, 882, 64, 0),
            (false, true, 288, 64, 882, 0), (false, true, 128, 256, 3136, 1), (false, true, 64, 256, 3136, 1),
            (false, true, 128, 16, 3136, 1), (false, true, 128, 3136, 16, 1), (true, false, 256, 3136, 128, 1),
            (false, false, 128, 3136, 256, 0),
        ] as [(Bool, Bool, Int, Int, Int, Float)])
    func matchesOpenBLASOnTheModelsShapes(_ shape: (Bool, Bool, Int, Int, Int, Float)) {
        let (transA, transB, m, n, k, beta) = shape
        let p = GEMMProduct(transA, transB, m, n, k, beta: beta, kq: BLAS.ownKernelKBlock ?? 0)
        let (c, ran) = p.own()
        #expect(ran)
        #expect(firstDifference(c, p.openBLAS()) == nil)
    }

    @Test func declinesWhatItDoesNotDoAndTouchesNothing() {
        for p in [
            GEMMProduct(false, false, 8, 16, 4, beta: 0.5), GEMMProduct(true, true, 8, 16, 4),
            GEMMProduct(false, false, 8, 16, 0), GEMMProduct(false, true, 8, 16, 4, kq: 0),
        ] {
            let (c, ran) = p.own()
            #expect(!ran)
            #expect(firstDifference(c, p.c0) == nil)
        }
    }
}

extension GEMMProduct: CustomTestStringConvertible {
    var testDescription: String {
        "\(transA ? "A^T" : "A") \(transB ? "B^T" : "B") \(m) x \(n) x \(k), beta \(beta), K blocks of \(kq)"
    }
}
