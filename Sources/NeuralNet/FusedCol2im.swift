import NNKernels

/// y = col2im(W^T X) (+ bias, then ReLU) for a 3x3 stride-2 geometry in one sweep
/// (`vl_deconv3x3s2_forward`): a transposed convolution's forward pass, and a convolution's input
/// gradient. It runs where `BLAS.gemm` would compute W^T X in `vl_sgemm`, so the bits are those of
/// the GEMM followed by `col2im`, and the col matrix is never written.
final class FusedCol2im {
    private let packed = Tensor(zeros: [0])  // [o, k, 9], or empty: not fused this pass
    /// The tiles of the current pass that ran fused.
    private(set) var tiles = 0

    /// Starts a pass of the geometry g (col2im's output planes g.in, its input planes g.out, o =
    /// g.channels) with weight [k, o, 3, 3]: packs it when g qualifies and `enabled`.
    func begin(_ g: ConvGeometry, weight: UnsafePointer<Float>, k: Int, enabled: Bool) {
        let on = enabled && g.isEvenStride2Kernel3 && BLAS.fusesCol2im
        packed.resize([on ? k * g.patchSize : 0])
        tiles = 0
        if on { vl_deconv3x3s2_pack(weight, k, g.channels, packed.data) }
    }

    /// One tile of n images: X [k, n g.outPlane] (row stride ldx) into y, whose planes `planes`
    /// places. False, touching nothing, where it does not apply: compute W^T X and col2im instead.
    func run(
        _ g: ConvGeometry, x: UnsafePointer<Float>, ldx: Int, k: Int, images n: Int, bias: UnsafePointer<Float>?,
        relu: Bool, into y: UnsafeMutablePointer<Float>, planes: vl_planes
    ) -> Bool {
        let product = GEMMShape(transA: true, transB: false, m: g.patchSize, n: n * g.outPlane, k: k)
        guard packed.count > 0, let kq = BLAS.ownKernelKBlock(m: product.m, n: product.n, k: product.k) else {
            return false
        }
        let ran = BLAS.countedAsGEMM(product) {
            vl_deconv3x3s2_forward(
                x, ldx, n, k, g.channels, g.outHeight, g.outWidth, packed.data, bias, relu ? 1 : 0, y, planes, kq)
                != 0
        }
        if ran { tiles += 1 }
        return ran
    }
}
