import NNKernels
import NeuralNet
import Testing

/// One product for `vl_sgemm`: op(A) m x k, op(B) k x n, C m x n stored with 3 spare columns
/// and a spare row, all filled with a sentinel that the kernel must leave alone.
struct GEMMProduct {
    let transA: Bool, transB: Bool, m: Int, n: Int, k: Int, beta: Float
    /// OpenBLAS's K block to reproduce: 320 (Cooperlake, Haswell) or 448 (SkylakeX), and its kernel.
    let kq: Int
    let kernel: vl_gemm_kernel
    let a: [Float], b: [Float], c0: [Float]
    /// Row strides one to three floats past the rows, so that no stride equals a row.
    let lda: Int, ldb: Int, ldc: Int
    static let sentinel: Float = 1e30

    init(
        _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, beta: Float = 0, kq: Int = 320,
        kernel: vl_gemm_kernel = VL_GEMM_AVX512, seed: UInt64 = 1
    ) {
        (self.transA, self.transB, self.m, self.n, self.k, self.beta) = (transA, transB, m, n, k, beta)
        (self.kq, self.kernel) = (kq, kernel)
        (lda, ldb, ldc) = ((transA ? m : k) + 1, (transB ? k : n) + 2, n + 3)
        var rng = Xoshiro256(seed: seed)
        let (rowsA, rowsB, ldc) = (transA ? k : m, transB ? n : k, ldc)
        a = (0..<(rowsA * lda)).map { _ in rng.uniform(-1, 1) }
        b = (0..<(rowsB * ldb)).map { _ in rng.uniform(-1, 1) }
        c0 = (0..<((m + 1) * ldc)).map { i in i / ldc < m && i % ldc < n ? rng.uniform(-1, 1) : Self.sentinel }
    }

    func opA(_ i: Int, _ p: Int) -> Float { transA ? a[p * lda + i] : a[i * lda + p] }
    func opB(_ p: Int, _ j: Int) -> Float { transB ? b[j * ldb + p] : b[p * ldb + j] }

    /// OpenBLAS's split of `count` by its block `size`: size while 2 sizes remain, then two
    /// halves rounded up to `round`, as its level-3 driver splits K (and M: C's columns).
    static func blocks(_ count: Int, size: Int, round: Int) -> [Range<Int>] {
        var blocks: [Range<Int>] = []
        var start = 0
        while start < count {
            let rest = count - start
            let width = rest >= 2 * size ? size : rest > size ? (rest / 2 + round - 1) / round * round : rest
            blocks.append(start..<(start + width))
            start += width
        }
        return blocks
    }

    /// Whether OpenBLAS's Haswell kernel sums C(i, j) as two chains (even and odd k): in the 8 x 6
    /// tiles at the first and last whole 8 columns of each block of 320 columns (left or right half
    /// of each 12-row panel) and in the 8 x 4 tiles of the rows past the panels.
    func isPaired(_ i: Int, _ j: Int) -> Bool {
        guard kernel == VL_GEMM_HASWELL else { return false }
        let block = Self.blocks(n, size: 320, round: 8).first { $0.contains(j) }!
        let (eight, eights) = ((j - block.lowerBound) / 8, block.count / 8)
        guard eight < eights else { return false }
        let panels = m / 12 * 12
        if i < panels {
            let left = i % 12 < 6
            return block.count >= 16
                && ((left && eight == 0) || (eight == eights - 1 && left == eights.isMultiple(of: 2)))
        }
        let rest = m - panels
        return block.lowerBound == 0 ? i - panels < rest / 4 * 4 : (4..<8).contains(rest) && i < panels + 4
    }

    /// What nn_gemm.c promises: per element, a chain of FMAs from zero over each of OpenBLAS's K
    /// blocks (halves rounded up to 16, or 8 for Haswell), each added to C once; two chains where
    /// `isPaired` (the odd k of K's first multiple of 8 in one), summed.
    var expected: [Float] {
        let blocks = Self.blocks(k, size: kq, round: kernel == VL_GEMM_HASWELL ? 8 : 16)
        var c = c0
        for i in 0..<m {
            for j in 0..<n {
                let paired = isPaired(i, j)
                for (index, block) in blocks.enumerated() {
                    var even: Float = 0
                    var odd: Float = 0
                    let pairs = paired && block.count >= 8 ? block.lowerBound + block.count / 8 * 8 : block.lowerBound
                    for p in block {
                        if p < pairs && !(p - block.lowerBound).isMultiple(of: 2) {
                            odd = odd.addingProduct(opA(i, p), opB(p, j))
                        } else {
                            even = even.addingProduct(opA(i, p), opB(p, j))
                        }
                    }
                    let sum = even + odd
                    c[i * ldc + j] = index == 0 && beta == 0 ? sum : c[i * ldc + j] + sum
                }
            }
        }
        return c
    }

    /// C after `vl_sgemm`, and whether it ran.
    func own() -> (c: [Float], ran: Bool) {
        var c = c0
        let ran = vl_sgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, a, lda, b, ldb, beta, &c, ldc, kq, kernel)
        return (c, ran != 0)
    }

    /// C after `vl_sgemm_bt` on B^T [k, n] (row stride n + 1) made from b, and whether it ran.
    func ownGivenBT() -> (c: [Float], ran: Bool) {
        let ldbt = n + 1
        var bt = [Float](repeating: Self.sentinel, count: k * ldbt)
        for j in 0..<n { for p in 0..<k { bt[p * ldbt + j] = opB(p, j) } }
        var c = c0
        let ran = vl_sgemm_bt(m, n, k, a, lda, bt, ldbt, beta, &c, ldc, kq, kernel)
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
    /// inside one block, at the block boundaries and over three blocks, beta 0 and 1; B^T (packed
    /// one K block at a time) with fewer rows than columns and a long K, and without.
    static let products: [GEMMProduct] = [
        GEMMProduct(true, false, 19, 53, 64), GEMMProduct(true, false, 8, 48, 1, beta: 1),
        GEMMProduct(false, false, 13, 97, 320, beta: 1), GEMMProduct(false, false, 9, 33, 321),
        GEMMProduct(false, false, 7, 50, 576), GEMMProduct(true, false, 3, 17, 640, beta: 1),
        GEMMProduct(false, true, 13, 70, 784), GEMMProduct(false, true, 5, 64, 882, beta: 1),
        GEMMProduct(false, true, 1, 1, 1000), GEMMProduct(false, true, 17, 15, 37, seed: 2),
        GEMMProduct(false, true, 6, 64, 784, kq: 448), GEMMProduct(true, false, 9, 20, 1000, beta: 1, kq: 448),
        GEMMProduct(false, true, 70, 13, 784, beta: 1), GEMMProduct(false, true, 19, 53, 400, beta: 1, seed: 3),
        GEMMProduct(false, true, 33, 40, 700),
        // Haswell's two chains: panels and 4 to 11 spare rows, column blocks of 320 and halves
        // (an even or odd number of 8s, and not a whole one), K under 8, one and three K blocks;
        // each path (B, and B^T in one and in three K blocks); a block's two groups of 8 in one
        // vector (64 columns); a K whose second half is one longer than its first (625: 312, 313).
        GEMMProduct(true, false, 64, 784, 64, kernel: VL_GEMM_HASWELL),
        GEMMProduct(false, false, 20, 700, 650, beta: 1, kernel: VL_GEMM_HASWELL),
        GEMMProduct(false, false, 30, 17, 7, kernel: VL_GEMM_HASWELL),
        GEMMProduct(false, true, 41, 40, 100, beta: 1, kernel: VL_GEMM_HASWELL),
        GEMMProduct(false, true, 23, 300, 900, kernel: VL_GEMM_HASWELL),
        GEMMProduct(false, true, 8, 200, 800, beta: 1, kernel: VL_GEMM_HASWELL),
        GEMMProduct(false, false, 17, 882, 40, kernel: VL_GEMM_HASWELL),
        GEMMProduct(false, true, 30, 650, 20, beta: 1, kernel: VL_GEMM_HASWELL),
        GEMMProduct(false, true, 24, 64, 100, beta: 1, kernel: VL_GEMM_HASWELL),
        GEMMProduct(false, true, 29, 50, 625, kernel: VL_GEMM_HASWELL),
        GEMMProduct(true, false, 100, 1400, 30, kernel: VL_GEMM_HASWELL),
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

    /// B^T given (an evaluation's frozen dense weights): the same bits as transposing B in the call.
    @Test(arguments: products.filter(\.transB))
    func givenTransposedBMatchesTheBlockedChains(_ p: GEMMProduct) {
        let (c, ran) = p.ownGivenBT()
        #expect(ran)
        #expect(firstDifference(c, p.expected) == nil)
    }

    /// The model's own shapes: the bits of OpenBLAS's own kernel (the claim that lets it replace
    /// OpenBLAS without changing any result), where OpenBLAS runs one that `vl_sgemm` reproduces.
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
        let p = GEMMProduct(transA, transB, m, n, k, beta: beta, kq: BLAS.ownKernelKBlock ?? 0, kernel: BLAS.ownKernel)
        let (c, ran) = p.own()
        #expect(ran)
        #expect(firstDifference(c, p.openBLAS()) == nil)
    }

    @Test func declinesWhatItDoesNotDoAndTouchesNothing() {
        for p in [
            GEMMProduct(false, false, 8, 16, 4, beta: 0.5), GEMMProduct(true, true, 8, 16, 4),
            GEMMProduct(false, false, 8, 16, 0), GEMMProduct(false, true, 8, 16, 4, kq: 0),
        ] {
            // vl_sgemm_bt takes A as it lies: the others decline for their beta, K or kq.
            for (c, ran) in p.transA ? [p.own()] : [p.own(), p.ownGivenBT()] {
                #expect(!ran)
                #expect(firstDifference(c, p.c0) == nil)
            }
        }
    }
}

extension GEMMProduct: CustomTestStringConvertible {
    var testDescription: String {
        "\(transA ? "A^T" : "A") \(transB ? "B^T" : "B") \(m) x \(n) x \(k), beta \(beta), K blocks of \(kq)"
            + (kernel == VL_GEMM_HASWELL ? ", Haswell" : "")
    }
}
