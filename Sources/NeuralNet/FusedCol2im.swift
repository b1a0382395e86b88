import NNKernels
import Support

/// y = col2im(W^T X) (+ bias, then ReLU) for a 3x3 stride-2 geometry in one sweep
/// (`vl_deconv3x3s2_forward`): a transposed convolution's forward pass, and a convolution's input
/// gradient. It runs where `BLAS.gemm` would compute W^T X in `vl_sgemm`, so the bits are those of
/// the GEMM followed by `col2im`, and the col matrix is never written. Whether that is faster
/// depends on the core (`speedup`).
public final class FusedCol2im {
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

    /// How much faster the sweep is than W^T X (`vl_sgemm`) and then `vl_col2im` on this core
    /// (their times' ratio; nil where it cannot run), which `ConvolutionKernel.automatic` asks:
    /// timed once per process on deconv2's tile (4 images of 14 x 14, 64 -> 32 channels, operands
    /// in cache), best of 7 alternating rounds. Both give the same bits, so it changes only the
    /// speed. The sweep does 18 FMAs per 22 loads: 1.06x on a Zen 4, whose AVX-512 FMAs are half
    /// width, and 0.7x on a Zen 5, whose full-width FMAs outrun the loads (the GEMM runs at 96 % of
    /// its FMA peak there).
    public static let speedup: Double? = {
        guard BLAS.fusesCol2im, let kq = BLAS.ownKernelKBlock else { return nil }
        var tile = SampleTile()
        var best = (passes: Double.infinity, sweep: Double.infinity)
        for _ in 0..<7 {
            guard let passes = tile.timeTwoPasses(kq: kq), let sweep = tile.timeSweep(kq: kq) else { return nil }
            best = (min(best.passes, passes), min(best.sweep, sweep))
        }
        return best.passes / best.sweep
    }()

    /// Whether `ConvolutionKernel.automatic` fuses: where the sweep measured faster.
    static var isFaster: Bool { (speedup ?? 0) > 1 }
}

/// deconv2's tile for `FusedCol2im.speedup`: 4 images of 14 x 14, 64 -> 32 channels, random.
private struct SampleTile {
    let n = 4
    let c = 64
    let o = 32
    let side = 14
    let x: [Float]
    let weight: [Float]
    let bias: [Float]
    var packed: [Float]
    var col: [Float]
    var y: [Float]
    var geometry: vl_geometry
    var cols: Int { n * side * side }
    var planes: vl_planes { vl_planes(image: o * 4 * side * side, channel: 4 * side * side) }

    init() {
        var rng = Xoshiro256(seed: 1)
        let cols = n * side * side
        x = (0..<(c * cols)).map { _ in rng.uniform(-1, 1) }
        weight = (0..<(c * o * 9)).map { _ in rng.uniform(-1, 1) }
        bias = [Float](repeating: 0.1, count: o)
        packed = [Float](repeating: 0, count: c * o * 9)
        col = [Float](repeating: 0, count: 9 * o * cols + 16)  // col2im reads 16 past the end
        y = [Float](repeating: 0, count: n * o * 4 * side * side)
        geometry = vl_geometry(
            channels: o, in_h: 2 * side, in_w: 2 * side, kernel: 3, stride: 2, pad_top: 0, pad_left: 0, out_h: side,
            out_w: side)
        vl_deconv3x3s2_pack(weight, c, o, &packed)
    }

    /// Seconds for col = W^T X (`vl_sgemm`) and then `vl_col2im` (+ bias, ReLU); nil: not run.
    mutating func timeTwoPasses(kq: Int) -> Double? {
        let t0 = monotonicSeconds()
        guard vl_sgemm(1, 0, 9 * o, cols, c, weight, 9 * o, x, cols, 0, &col, cols, kq, VL_GEMM_AVX512) != 0 else {
            return nil
        }
        vl_col2im(col, n, &geometry, &y, planes, 0, bias, 1)
        return monotonicSeconds() - t0
    }

    /// Seconds for the same in one sweep; nil: not run.
    mutating func timeSweep(kq: Int) -> Double? {
        let t0 = monotonicSeconds()
        let ran = vl_deconv3x3s2_forward(x, cols, n, c, o, side, side, packed, bias, 1, &y, planes, kq)
        return ran != 0 ? monotonicSeconds() - t0 : nil
    }
}
