import NNKernels

/// The geometry of a 2-D convolution over one channel plane: sizes, stride and Keras "same" padding.
///
/// For "same" padding (TensorFlow's rule) the output is ceil(in / stride) and the total padding
/// max((out - 1) * stride + kernel - in, 0) is split with the smaller half before: stride 2 on
/// an even size pads only after (bottom/right), the asymmetric case.
public struct ConvGeometry: Hashable, Sendable, CustomStringConvertible {
    public let channels: Int  // C: input channels of the (forward) convolution
    public let inHeight: Int, inWidth: Int
    public let kernel: Int, stride: Int
    public let padTop: Int, padLeft: Int
    public let outHeight: Int, outWidth: Int

    public init(
        channels: Int, inHeight: Int, inWidth: Int, kernel: Int, stride: Int,
        padTop: Int, padLeft: Int, outHeight: Int, outWidth: Int
    ) {
        precondition(
            channels > 0 && inHeight > 0 && inWidth > 0 && kernel > 0 && stride > 0 && outHeight > 0 && outWidth > 0,
            "invalid conv geometry")
        self.channels = channels
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.kernel = kernel
        self.stride = stride
        self.padTop = padTop
        self.padLeft = padLeft
        self.outHeight = outHeight
        self.outWidth = outWidth
    }

    /// Keras/TensorFlow "same" padding.
    public static func same(channels: Int, height: Int, width: Int, kernel: Int, stride: Int) -> ConvGeometry {
        func axis(_ n: Int) -> (out: Int, before: Int) {
            let out = (n + stride - 1) / stride
            let total = max((out - 1) * stride + kernel - n, 0)
            return (out, total / 2)
        }
        let (oh, pt) = axis(height)
        let (ow, pl) = axis(width)
        return ConvGeometry(
            channels: channels, inHeight: height, inWidth: width, kernel: kernel, stride: stride,
            padTop: pt, padLeft: pl, outHeight: oh, outWidth: ow)
    }

    /// A 3x3 stride-2 convolution whose input is exactly twice its output with no leading
    /// padding (the reference model's every stride-2 layer): im2col / col2im take a vectorised
    /// fast path when the output rows are at most 16 pixels wide, and the direct kernels apply.
    public var isEvenStride2Kernel3: Bool {
        kernel == 3 && stride == 2 && padTop == 0 && padLeft == 0 && inHeight == 2 * outHeight
            && inWidth == 2 * outWidth
    }

    /// Rows of the im2col matrix: C * k * k.
    public var patchSize: Int { channels * kernel * kernel }
    public var inPlane: Int { inHeight * inWidth }
    public var outPlane: Int { outHeight * outWidth }

    public var description: String {
        """
        C=\(channels) \(inHeight)x\(inWidth) k=\(kernel) s=\(stride) pad=(\(padTop),\(padLeft)) -> \
        \(outHeight)x\(outWidth)
        """
    }
}

extension ConvGeometry {
    /// The same geometry for the C layer (`NNKernels`).
    var c: vl_geometry {
        vl_geometry(
            channels: channels, in_h: inHeight, in_w: inWidth, kernel: kernel, stride: stride,
            pad_top: padTop, pad_left: padLeft, out_h: outHeight, out_w: outWidth)
    }

    /// The planes of the convolution's input [N, C, H, W] (`vl_planes`).
    var nchwPlanes: vl_planes { ActivationLayout.nchw.planes(batch: 1, channels: channels, plane: inPlane) }

    /// Runs `body` with the scratch floats the C layout passes need (on the stack when small).
    @inline(__always)
    func withScratch<R>(_ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        var geometry = c
        let count = vl_layout_scratch(&geometry)
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { body($0.baseAddress!) }
    }
}

/// How an activation tensor between two layers is laid out.
public enum ActivationLayout: Hashable, Sendable {
    /// [N, C, H, W].
    case nchw
    /// [C, N, H, W]: each channel's planes of the whole batch side by side, the [C, N*P] matrix a
    /// transposed convolution's GEMMs read and write, so two such layers hand over without a permute.
    case channelMajor

    /// The shape of n images of c channels of h x w.
    public func shape(batch n: Int, channels c: Int, height h: Int, width w: Int) -> [Int] {
        self == .nchw ? [n, c, h, w] : [c, n, h, w]
    }

    /// (batch, channels) of a 4-D tensor in this layout.
    public func batchAndChannels(_ shape: [Int]) -> (batch: Int, channels: Int) {
        self == .nchw ? (shape[0], shape[1]) : (shape[1], shape[0])
    }

    /// Where the planes of a whole batch of n images of p floats lie: plane (b, c) at
    /// b * image + c * channel (`vl_planes`).
    func planes(batch n: Int, channels c: Int, plane p: Int) -> vl_planes {
        self == .nchw ? vl_planes(image: c * p, channel: p) : vl_planes(image: p, channel: n * p)
    }
}

/// Batched im2col: x [N, C, H, W] -> col [C*k*k, N*Hout*Wout].
/// Row (c, ki, kj), column (n, oh, ow) holds x[n, c, oh*s - padTop + ki, ow*s - padLeft + kj] (0 outside).
/// `planes` says where x's (and mask's) planes lie when not NCHW (`ActivationLayout.planes`).
///
/// Each input plane is read once and reused from L1 for all k*k rows; a 3x3 stride-2 kernel with
/// no leading padding splits each input row into its even and odd columns in vector registers
/// and stores them straight into the three rows they feed. With
/// `mask` (a fused ReLU's output y), x is first multiplied by (y > 0); with `biasGrad`, the
/// per-channel sums of that (masked) x are added to it: the bias gradient in the same pass.
public func im2col(
    _ x: UnsafePointer<Float>, batch n: Int, _ g: ConvGeometry, planes: vl_planes? = nil,
    into col: UnsafeMutablePointer<Float>,
    mask: UnsafePointer<Float>? = nil, biasGrad: UnsafeMutablePointer<Float>? = nil
) {
    var geometry = g.c
    let planes = planes ?? g.nchwPlanes
    g.withScratch { vl_im2col(x, n, &geometry, planes, col, mask, biasGrad, $0) }
}

/// Batched col2im, the adjoint of `im2col`: accumulates col [C*k*k, N*Hout*Wout] into x [N, C, H, W]
/// (or x's `planes`, as for `im2col`).
/// `x` is overwritten unless `accumulate` is true; when overwriting, `bias` (per channel) is added
/// to each finished plane while it is still in L1, then ReLU when `relu` (a 3x3 stride-2 kernel:
/// to each output row as it is summed in registers).
public func col2im(
    _ col: UnsafePointer<Float>, batch n: Int, _ g: ConvGeometry, into x: UnsafeMutablePointer<Float>,
    planes: vl_planes? = nil, accumulate: Bool = false, bias: UnsafePointer<Float>? = nil, relu: Bool = false
) {
    precondition(!accumulate || (bias == nil && !relu), "col2im: bias and ReLU apply only when overwriting")
    var geometry = g.c
    let planes = planes ?? g.nchwPlanes
    vl_col2im(col, n, &geometry, x, planes, accumulate ? 1 : 0, bias, relu ? 1 : 0)
}

/// [N, C, P] -> [C, N*P] (channel-major), used around batched GEMMs.
@inline(__always)
public func batchToChannelMajor(
    _ src: UnsafePointer<Float>, batch n: Int, channels c: Int, plane p: Int,
    into dst: UnsafeMutablePointer<Float>
) {
    vl_to_channel_major(src, n, c, p, dst)
}

/// [C, N*P] -> [N, C, P], adding a per-channel bias and applying ReLU when asked.
@inline(__always)
public func channelMajorToBatch(
    _ src: UnsafePointer<Float>, batch n: Int, channels c: Int, plane p: Int,
    bias: UnsafePointer<Float>?, relu: Bool = false, into dst: UnsafeMutablePointer<Float>
) {
    vl_from_channel_major(src, n, c, p, bias, relu ? 1 : 0, dst)
}

/// dY for a layer with a fused ReLU: [N, C, P] -> [C, N*P] (channel-major), zero where the
/// layer's output y was not positive, and the per-channel sums of the result added to `db`.
@inline(__always)
func maskedBatchToChannelMajor(
    _ dy: UnsafePointer<Float>, output y: UnsafePointer<Float>?, batch n: Int, channels c: Int,
    plane p: Int, into dst: UnsafeMutablePointer<Float>, biasGrad db: UnsafeMutablePointer<Float>
) {
    vl_masked_to_channel_major(dy, y, n, c, p, dst, db)
}
