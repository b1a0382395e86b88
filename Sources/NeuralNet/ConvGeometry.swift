/// The geometry of a 2-D convolution over one channel plane: sizes, stride and Keras "same" padding.
///
/// For "same" padding (TensorFlow's rule) the output is ceil(in / stride) and the total padding
/// max((out - 1) * stride + kernel - in, 0) is split with the smaller half before: stride 2 on
/// an even size pads only after (bottom/right), the asymmetric case.
public struct ConvGeometry: Hashable, Sendable, CustomStringConvertible {
    public let channels: Int      // C: input channels of the (forward) convolution
    public let inHeight: Int, inWidth: Int
    public let kernel: Int, stride: Int
    public let padTop: Int, padLeft: Int
    public let outHeight: Int, outWidth: Int

    public init(channels: Int, inHeight: Int, inWidth: Int, kernel: Int, stride: Int,
                padTop: Int, padLeft: Int, outHeight: Int, outWidth: Int) {
        precondition(channels > 0 && inHeight > 0 && inWidth > 0 && kernel > 0 && stride > 0 && outHeight > 0 && outWidth > 0,
                     "invalid conv geometry")
        self.channels = channels
        self.inHeight = inHeight; self.inWidth = inWidth
        self.kernel = kernel; self.stride = stride
        self.padTop = padTop; self.padLeft = padLeft
        self.outHeight = outHeight; self.outWidth = outWidth
    }

    /// Keras/TensorFlow "same" padding.
    public static func same(channels: Int, height: Int, width: Int, kernel: Int, stride: Int) -> ConvGeometry {
        func axis(_ n: Int) -> (out: Int, before: Int) {
            let out = (n + stride - 1) / stride
            let total = max((out - 1) * stride + kernel - n, 0)
            return (out, total / 2)
        }
        let (oh, pt) = axis(height), (ow, pl) = axis(width)
        return ConvGeometry(channels: channels, inHeight: height, inWidth: width, kernel: kernel, stride: stride,
                            padTop: pt, padLeft: pl, outHeight: oh, outWidth: ow)
    }

    /// A 3x3 stride-2 convolution whose input is exactly twice its output with no leading
    /// padding (the reference model's every stride-2 layer): im2col / col2im take a fast path
    /// through the four stride-2 phases of each plane, with contiguous copies only.
    public var isEvenStride2Kernel3: Bool {
        kernel == 3 && stride == 2 && padTop == 0 && padLeft == 0 && inHeight == 2 * outHeight && inWidth == 2 * outWidth
    }

    /// Rows of the im2col matrix: C * k * k.
    public var patchSize: Int { channels * kernel * kernel }
    public var inPlane: Int { inHeight * inWidth }
    public var outPlane: Int { outHeight * outWidth }

    public var description: String {
        "C=\(channels) \(inHeight)x\(inWidth) k=\(kernel) s=\(stride) pad=(\(padTop),\(padLeft)) -> \(outHeight)x\(outWidth)"
    }
}

/// Batched im2col: x [N, C, H, W] -> col [C*k*k, N*Hout*Wout].
/// Row (c, ki, kj), column (n, oh, ow) holds x[n, c, oh*s - padTop + ki, ow*s - padLeft + kj] (0 outside).
///
/// Loop order: image and channel outermost, so each input plane is read once from memory and
/// reused from L1 for all k*k kernel offsets (the other order streams the input k*k times).
public func im2col(_ x: UnsafePointer<Float>, batch n: Int, _ g: ConvGeometry, into col: UnsafeMutablePointer<Float>) {
    if g.isEvenStride2Kernel3 { return im2colStride2(x, batch: n, g, into: col) }
    let k = g.kernel, s = g.stride, oh = g.outHeight, ow = g.outWidth, ih = g.inHeight, iw = g.inWidth
    let plane = g.outPlane, cols = n * plane
    let spans = columnSpans(g)
    for b in 0..<n {
        for c in 0..<g.channels {
            let src = x + (b * g.channels + c) * g.inPlane
            for ki in 0..<k {
                for kj in 0..<k {
                    let dst = col + ((c * k + ki) * k + kj) * cols + b * plane
                    let (owLo, owHi) = spans[kj]
                    for y in 0..<oh {
                        let d = dst + y * ow
                        let iy = y * s - g.padTop + ki
                        if iy < 0 || iy >= ih || owLo >= owHi {
                            d.update(repeating: 0, count: ow)
                            continue
                        }
                        let srcRow = src + iy * iw - g.padLeft + kj
                        for xo in 0..<owLo { d[xo] = 0 }
                        if s == 1 {
                            (d + owLo).update(from: srcRow + owLo, count: owHi - owLo)
                        } else {
                            for xo in owLo..<owHi { d[xo] = srcRow[xo * s] }
                        }
                        for xo in owHi..<ow { d[xo] = 0 }
                    }
                }
            }
        }
    }
}

/// Batched col2im, the adjoint of `im2col`: accumulates col [C*k*k, N*Hout*Wout] into x [N, C, H, W].
/// `x` is overwritten unless `accumulate` is true. Each output plane stays in L1 while its k*k
/// contributions are added.
public func col2im(_ col: UnsafePointer<Float>, batch n: Int, _ g: ConvGeometry, into x: UnsafeMutablePointer<Float>,
                   accumulate: Bool = false) {
    if g.isEvenStride2Kernel3 { return col2imStride2(col, batch: n, g, into: x, accumulate: accumulate) }
    let k = g.kernel, s = g.stride, oh = g.outHeight, ow = g.outWidth, ih = g.inHeight, iw = g.inWidth
    let plane = g.outPlane, cols = n * plane
    let spans = columnSpans(g)
    for b in 0..<n {
        for c in 0..<g.channels {
            let dstImage = x + (b * g.channels + c) * g.inPlane
            if !accumulate { dstImage.update(repeating: 0, count: g.inPlane) }
            for ki in 0..<k {
                for kj in 0..<k {
                    let (owLo, owHi) = spans[kj]
                    if owLo >= owHi { continue }
                    let srcImage = col + ((c * k + ki) * k + kj) * cols + b * plane
                    for y in 0..<oh {
                        let iy = y * s - g.padTop + ki
                        if iy < 0 || iy >= ih { continue }
                        let src = srcImage + y * ow
                        let dstRow = dstImage + iy * iw - g.padLeft + kj
                        if s == 1 {
                            for xo in owLo..<owHi { dstRow[xo] += src[xo] }
                        } else {
                            for xo in owLo..<owHi { dstRow[xo * s] += src[xo] }
                        }
                    }
                }
            }
        }
    }
}

/// im2col for `isEvenStride2Kernel3`: each input plane is split into its four phases
/// ph[p][q][m][l] = x[2m + p][2l + q] (in L1), and row (c, ki, kj) of col is phase
/// (ki % 2, kj % 2) shifted by (ki / 2, kj / 2) with zeros past the edge: contiguous copies.
func im2colStride2(_ x: UnsafePointer<Float>, batch n: Int, _ g: ConvGeometry, into col: UnsafeMutablePointer<Float>) {
    let oh = g.outHeight, ow = g.outWidth, iw = g.inWidth, plane = g.outPlane, cols = n * plane
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * plane) { scratch in
        let phases = scratch.baseAddress!
        for b in 0..<n {
            for c in 0..<g.channels {
                let src = x + (b * g.channels + c) * g.inPlane
                for p in 0..<2 {
                    for q in 0..<2 {
                        let ph = phases + (2 * p + q) * plane
                        for m in 0..<oh {
                            let s = src + (2 * m + p) * iw + q, d = ph + m * ow
                            for l in 0..<ow { d[l] = s[2 * l] }
                        }
                    }
                }
                for ki in 0..<3 {
                    for kj in 0..<3 {
                        let ph = phases + (2 * (ki % 2) + kj % 2) * plane
                        let a = ki / 2, sh = kj / 2
                        let dst = col + ((c * 3 + ki) * 3 + kj) * cols + b * plane
                        if a == 0 && sh == 0 { dst.update(from: ph, count: plane); continue }
                        for m in 0..<oh {
                            let d = dst + m * ow
                            if m + a >= oh { d.update(repeating: 0, count: ow); continue }
                            let s = ph + (m + a) * ow + sh
                            d.update(from: s, count: ow - sh)
                            if sh == 1 { d[ow - 1] = 0 }
                        }
                    }
                }
            }
        }
    }
}

/// col2im for `isEvenStride2Kernel3`, the adjoint of `im2colStride2`: the nine rows of a plane
/// are added into four phase accumulators with contiguous shifted adds, then interleaved.
func col2imStride2(_ col: UnsafePointer<Float>, batch n: Int, _ g: ConvGeometry, into x: UnsafeMutablePointer<Float>,
                   accumulate: Bool) {
    let oh = g.outHeight, ow = g.outWidth, iw = g.inWidth, plane = g.outPlane, cols = n * plane
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * plane) { scratch in
        let phases = scratch.baseAddress!
        for b in 0..<n {
            for c in 0..<g.channels {
                phases.update(repeating: 0, count: 4 * plane)
                for ki in 0..<3 {
                    for kj in 0..<3 {
                        let ph = phases + (2 * (ki % 2) + kj % 2) * plane
                        let a = ki / 2, sh = kj / 2
                        let src = col + ((c * 3 + ki) * 3 + kj) * cols + b * plane
                        for m in 0..<(oh - a) {
                            let s = src + m * ow, d = ph + (m + a) * ow + sh
                            for l in 0..<(ow - sh) { d[l] += s[l] }
                        }
                    }
                }
                let dst = x + (b * g.channels + c) * g.inPlane
                for p in 0..<2 {
                    for q in 0..<2 {
                        let ph = phases + (2 * p + q) * plane
                        for m in 0..<oh {
                            let s = ph + m * ow, d = dst + (2 * m + p) * iw + q
                            if accumulate {
                                for l in 0..<ow { d[2 * l] += s[l] }
                            } else {
                                for l in 0..<ow { d[2 * l] = s[l] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// For each kernel column kj, the output columns [lo, hi) whose input column lies inside the image.
@inline(__always)
func columnSpans(_ g: ConvGeometry) -> [(Int, Int)] {
    (0..<g.kernel).map { kj in
        (max(0, (g.padLeft - kj + g.stride - 1) / g.stride), min(g.outWidth, (g.inWidth - 1 + g.padLeft - kj) / g.stride + 1))
    }
}

/// [N, C, P] -> [C, N*P] (channel-major), optionally adding nothing; used around batched GEMMs.
@inline(__always)
public func batchToChannelMajor(_ src: UnsafePointer<Float>, batch n: Int, channels c: Int, plane p: Int,
                                into dst: UnsafeMutablePointer<Float>) {
    for b in 0..<n {
        for ch in 0..<c {
            (dst + ch * n * p + b * p).update(from: src + (b * c + ch) * p, count: p)
        }
    }
}

/// [C, N*P] -> [N, C, P], adding a per-channel bias and applying ReLU when asked.
@inline(__always)
public func channelMajorToBatch(_ src: UnsafePointer<Float>, batch n: Int, channels c: Int, plane p: Int,
                                bias: UnsafePointer<Float>?, relu: Bool = false, into dst: UnsafeMutablePointer<Float>) {
    for b in 0..<n {
        for ch in 0..<c {
            let s = src + ch * n * p + b * p, d = dst + (b * c + ch) * p
            let bv = bias?[ch] ?? 0
            if relu {
                for i in 0..<p { d[i] = max(s[i] + bv, 0) }
            } else if bias != nil {
                for i in 0..<p { d[i] = s[i] + bv }
            } else {
                d.update(from: s, count: p)
            }
        }
    }
}

/// dY for a layer with a fused ReLU: [N, C, P] -> [C, N*P] (channel-major), zero where the
/// layer's output y was not positive, and the per-channel sums of the result added to `db`.
@inline(__always)
func maskedBatchToChannelMajor(_ dy: UnsafePointer<Float>, output y: UnsafePointer<Float>?, batch n: Int, channels c: Int,
                               plane p: Int, into dst: UnsafeMutablePointer<Float>, biasGrad db: UnsafeMutablePointer<Float>) {
    for b in 0..<n {
        for ch in 0..<c {
            let s = dy + (b * c + ch) * p, d = dst + ch * n * p + b * p
            if let y {
                reluBackward(output: y + (b * c + ch) * p, dy: s, into: d, count: p)
            } else {
                d.update(from: s, count: p)
            }
            db[ch] += vectorSum(d, p)
        }
    }
}

/// db[c] += sum over n, p of dy[n, c, p].
@inline(__always)
func accumulateChannelSums(_ dy: UnsafePointer<Float>, batch n: Int, channels c: Int, plane p: Int,
                           into db: UnsafeMutablePointer<Float>) {
    for ch in 0..<c {
        var acc: Float = 0
        for b in 0..<n { acc += vectorSum(dy + (b * c + ch) * p, p) }
        db[ch] += acc
    }
}
