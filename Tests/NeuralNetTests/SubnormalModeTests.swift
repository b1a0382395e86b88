import NeuralNet
import Testing

/// `value` times 1 through `BLAS.gemm` (1 x 1 x 1): OpenBLAS's vector code, which the mode governs.
func gemmProduct(_ value: Float) -> Float {
    var c: Float = -1
    BLAS.gemm(m: 1, n: 1, k: 1, a: [value], lda: 1, b: [1], ldb: 1, c: &c, ldc: 1)
    return c
}

@Suite("Subnormal mode")
struct SubnormalModeTests {
    static let subnormal = Float.leastNormalMagnitude / 8

    @Test func flushesInsideAndRestoresAfter() {
        let before = SubnormalMode.current
        #expect(gemmProduct(Self.subnormal) == Self.subnormal, "outside, subnormals are computed")
        let inside = SubnormalMode.flushing { gemmProduct(Self.subnormal) }
        #expect(inside == 0, "inside, a subnormal operand reads as zero")
        #expect(SubnormalMode.flushing { gemmProduct(Float.leastNormalMagnitude) } == Float.leastNormalMagnitude)
        #expect(SubnormalMode.current == before)
        #expect(gemmProduct(Self.subnormal) == Self.subnormal, "the thread's mode is restored")
    }

    @Test func restoresTheModeWhenTheBodyThrows() {
        struct Failure: Error {}
        let before = SubnormalMode.current
        #expect(throws: Failure.self) { try SubnormalMode.flushing { throw Failure() } }
        #expect(SubnormalMode.current == before)
    }
}
