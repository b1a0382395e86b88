import NNKernels

/// How a convolution layer computes: chosen by shape (`automatic`) or forced, for tests.
public enum ConvolutionKernel: Sendable {
    /// The direct kernel where the layer's shape has one and its GEMMs are skinny, else GEMM (W^T X
    /// fused with its col2im where it can and that measured faster here: `FusedCol2im.speedup`).
    case automatic
    /// im2col / col2im around `sgemm`, never fused.
    case gemm
    /// im2col / col2im around `sgemm`, W^T X fused with its col2im wherever it can, faster or not.
    case fused
    /// The direct kernel (only for shapes that have one; others fall back to GEMM).
    case direct

    /// Whether a GEMM-path pass may compute W^T X inside col2im (`FusedCol2im`).
    var fusesCol2im: Bool {
        switch self {
        case .gemm: return false
        case .fused: return true
        case .automatic, .direct: return FusedCol2im.isFaster
        }
    }
}

/// 2-D transposed convolution with Keras "same" padding: output size = input size * stride.
///
/// It is the adjoint of the "same" `Conv2D` that maps [N, O, H*s, W*s] to [N, C, H, W], so the
/// forward pass is that convolution's backward-data pass and vice versa.
/// x [N, C, H, W] -> y [N, O, H*s, W*s]; weight [C, O, k, k] (PyTorch layout), bias [O].
/// Per tile of images (see `Conv2D`): X = permute(x) [C, n*P];  col [O*k*k, n*P] = W^T * X;
/// y = col2im(col) + b, or both in one sweep for 3x3 stride 2 (`FusedCol2im`: the same bits, no
/// col).  Backward: dcol = im2col(dy);  dW += X * dcol^T;  db += sum dy;
/// dx = permute(W * dcol). A channel-major x is X itself, and dx is written in place: no permutes.
public final class ConvTranspose2D: TiledLayer, InputGradientOptional {
    public let name: String
    public let inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int
    public let weight: Parameter, bias: Parameter
    public var computesInputGradient = true
    /// ReLU fused into the bias pass (forward) and the bias-gradient pass (backward).
    public var fusedReLU = false
    /// dy arrives multiplied by (y > 0) already (the next layer's `masksInputGradient`): the fused
    /// ReLU's backward skips that pass (and its read of y). Set with `handOverReLUMask`.
    public private(set) var outputGradientMasked = false
    /// dx is multiplied by (x > 0): the backward of a ReLU fused into the layer before, applied
    /// while x is in cache (by the direct kernel as it writes dx; on the GEMM path per tile, after
    /// the GEMM that wrote it), so that the layer before skips it. Set with `handOverReLUMask`.
    public private(set) var masksInputGradient = false

    /// Hands the backward mask of `upper`'s fused ReLU to `lower`, the layer that takes upper's
    /// output as its input: lower applies it to its input gradient, upper skips it. Both flags
    /// are set here together, so that the mask is never skipped without being applied.
    public static func handOverReLUMask(from upper: ConvTranspose2D, to lower: ConvTranspose2D) {
        precondition(upper.fusedReLU, "\(upper.name) has no fused ReLU to hand over")
        (upper.outputGradientMasked, lower.masksInputGradient) = (true, true)
    }
    /// GEMM or the direct 3x3 stride-1 kernel (`NNKernels`): with few output channels the
    /// GEMMs have M = O*9 rows (9 for the decoder's 32 -> 1 output layer) and run far below
    /// the sgemm peak, while the direct kernel keeps all nine taps of a few vectors in registers.
    public var kernel: ConvolutionKernel = .automatic
    /// The layouts of x (and dx) and of y (and dy). Channel-major hands a whole batch over to or
    /// from another transposed convolution with no permute (the GEMM path; the direct kernel is NCHW).
    public var inputLayout = ActivationLayout.nchw, outputLayout = ActivationLayout.nchw
    public var parameters: [Parameter] { [weight, bias] }

    /// True when this layer runs the direct kernel.
    public var usesDirectKernel: Bool {
        let hasDirect = stride == 1 && kernelSize == 3 && inputLayout == .nchw && outputLayout == .nchw
        switch kernel {
        case .gemm, .fused: return false
        case .direct: return hasDirect
        case .automatic: return hasDirect && outputChannels <= 4
        }
    }

    private var geometry: ConvGeometry?  // of the adjoint convolution: output plane -> input plane
    private let scratch = Tensor(zeros: [0])  // the direct kernel's planes and lanes
    private var input: Tensor?
    private var batch = 0
    private var pass = TilePass(batch: 0, maxTile: 0)  // of the last forward
    private var gradientPass = TilePass(batch: 0, maxTile: 0)  // of the backward pass under way
    private var outputGrad: Tensor?  // dy, during a backward pass
    private var directTiles = DirectKernelTiles()
    private let channelMajorInput = Tensor(zeros: [0])  // [C, n*P] for one tile
    private let col = Tensor(zeros: [0])  // [O*k*k, n*P] for one tile
    private let fused = FusedCol2im()  // the GEMM path's forward pass in one sweep, where it can
    /// The tiles of the last forward pass that ran GEMM and col2im in one sweep (`FusedCol2im`).
    public var fusedTiles: Int { fused.tiles }
    private let output = Tensor(zeros: [0])
    private let inputGrad = Tensor(zeros: [0])
    private let maskedGrad = Tensor(zeros: [0])  // dy * (y > 0) when the ReLU is fused
    private let weightGrad = TransposedGradient()

    public init(name: String, inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int) {
        self.name = name
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        let kk = kernelSize * kernelSize
        // Keras stores this kernel as (k, k, out, in): fan_in = k*k*out, fan_out = k*k*in.
        weight = Parameter(
            name: "weight", shape: [inputChannels, outputChannels, kernelSize, kernelSize],
            fanIn: outputChannels * kk, fanOut: inputChannels * kk)
        bias = Parameter(name: "bias", shape: [outputChannels])
    }

    private func adjointGeometry(height: Int, width: Int) -> ConvGeometry {
        let g = ConvGeometry.same(
            channels: outputChannels, height: height * stride, width: width * stride,
            kernel: kernelSize, stride: stride)
        precondition(g.outHeight == height && g.outWidth == width, "\(name): inconsistent transposed geometry")
        return g
    }

    /// The output shape for an input of `inputShape` (in `inputLayout`), in `outputLayout`.
    public func outputShape(for inputShape: [Int]) -> [Int] {
        let (n, _) = inputLayout.batchAndChannels(inputShape)
        return outputLayout.shape(
            batch: n, channels: outputChannels, height: inputShape[2] * stride, width: inputShape[3] * stride)
    }

    public func beginForward(_ x: Tensor, _ pass: TilePass?) -> Tensor {
        let (n, channels) = x.shape.count == 4 ? inputLayout.batchAndChannels(x.shape) : (0, -1)
        precondition(
            channels == inputChannels,
            "\(name): expected a 4-D \(inputLayout) input of \(inputChannels) channels, got \(x.shape)")
        let pass = pass ?? TilePass(batch: n, maxTile: n)
        precondition(n == (pass.localInput ? pass.maxTile : pass.batch), "\(name): x \(x.shape) is not \(pass)")
        let g = adjointGeometry(height: x.shape[2], width: x.shape[3])
        (geometry, input, batch, self.pass) = (g, x, pass.batch, pass)
        output.resize(
            outputLayout.shape(
                batch: pass.localOutput ? pass.maxTile : pass.batch, channels: outputChannels,
                height: g.inHeight, width: g.inWidth))
        if usesDirectKernel {
            scratch.resize([vl_deconv3x3s1_scratch(inputChannels, outputChannels, g.inHeight, g.inWidth)])
        }
        fused.begin(g, weight: weight.value.data, k: inputChannels, enabled: kernel.fusesCol2im && !usesDirectKernel)
        return output
    }

    /// The GEMM path's tiles (see `Conv2D`); the direct kernel goes image by image: one tile.
    public func batchTiles(forInput shape: [Int]) -> [Range<Int>] {
        let (n, _) = inputLayout.batchAndChannels(shape)
        if usesDirectKernel { return [0..<n] }
        let g = adjointGeometry(height: shape[2], width: shape[3])
        return tiles(batch: n, rows: g.patchSize, plane: g.outPlane)
    }

    public func forward(images: Range<Int>) {
        guard let g = geometry, let x = input else {
            preconditionFailure("\(name).forward(images:) before beginForward")
        }
        let (inTile, outTile, count) = (pass.input(images), pass.output(images), images.count)
        if usesDirectKernel {
            let (c, image) = (inputChannels, g.inPlane)
            vl_deconv3x3s1_forward(
                x.data + inTile.start * c * image, count, c, outputChannels, g.inHeight, g.inWidth,
                weight.value.data, bias.value.data, fusedReLU ? 1 : 0,
                output.data + outTile.start * outputChannels * image, scratch.data)
            return
        }
        let outPlanes = outputLayout.planes(batch: outTile.batch, channels: outputChannels, plane: g.inPlane)
        let cols = count * g.outPlane
        let (xs, ldx) = channelMajorTile(x, batch: inTile.batch, start: inTile.start, count: count)
        let y = output.data + outTile.start * outPlanes.image
        if fused.run(
            g, x: xs, ldx: ldx, k: inputChannels, images: count, bias: bias.value.data, relu: fusedReLU, into: y,
            planes: outPlanes)
        {
            return
        }
        col.resize([g.patchSize, cols])
        // col [O*k*k, n*P] = W^T [O*k*k, C] * X [C, n*P]
        BLAS.gemm(
            transA: true, m: g.patchSize, n: cols, k: inputChannels,
            a: weight.value.data, lda: g.patchSize, b: xs, ldb: ldx, c: col.data, ldc: cols)
        col2im(col.data, batch: count, g, into: y, planes: outPlanes, bias: bias.value.data, relu: fusedReLU)
    }

    /// Images start ..< start + count of x as the matrix X [C, count*P] and its leading dimension:
    /// x's own columns when it is channel-major, else a permuted copy in `channelMajorInput`.
    private func channelMajorTile(_ x: Tensor, batch n: Int, start: Int, count: Int) -> (
        UnsafeMutablePointer<Float>, Int
    ) {
        let plane = x.shape[2] * x.shape[3]
        if inputLayout == .channelMajor { return (x.data + start * plane, n * plane) }
        channelMajorInput.resize([inputChannels, count * plane])
        batchToChannelMajor(
            x.data + start * inputChannels * plane, batch: count, channels: inputChannels, plane: plane,
            into: channelMajorInput.data)
        return (channelMajorInput.data, count * plane)
    }

    public func beginBackward(_ dy: Tensor, _ pass: TilePass?) -> Tensor {
        guard let g = geometry, let x = input else { preconditionFailure("\(name).backward before forward") }
        precondition(
            !self.pass.localInput && !self.pass.localOutput, "\(name): backward after a forward that kept one tile")
        let pass = pass ?? TilePass(batch: batch, maxTile: batch)
        let dyShape = pass.localOutput ? outputShape(for: tileShape(x.shape, pass.maxTile)) : output.shape
        precondition(pass.batch == batch && dy.shape == dyShape, "\(name): dy \(dy.shape) does not match \(dyShape)")
        (outputGrad, gradientPass) = (dy, pass)
        zeroGradients()  // the tiles sum into them
        inputGrad.resize(pass.localInput ? tileShape(x.shape, pass.maxTile) : x.shape)
        if usesDirectKernel {
            if fusedReLU && !outputGradientMasked { maskedGrad.resize(dy.shape) }
            directTiles.begin(batch: batch)
        } else {
            weightGrad.begin(rows: inputChannels, columns: g.patchSize)
        }
        return inputGrad
    }

    /// shape (in `inputLayout`) with its batch dimension set to n.
    private func tileShape(_ shape: [Int], _ n: Int) -> [Int] {
        inputLayout.shape(batch: n, channels: inputChannels, height: shape[2], width: shape[3])
    }

    public func backward(images: Range<Int>) {
        guard let g = geometry, let x = input, var dy = outputGrad else {
            preconditionFailure("\(name).backward(images:) before beginBackward")
        }
        let (start, count) = (images.lowerBound, images.count)
        let (dxTile, dyTile) = (gradientPass.input(images), gradientPass.output(images))
        if usesDirectKernel {
            let (c, o, h, w) = (inputChannels, outputChannels, g.inHeight, g.inWidth)
            let (yOffset, dyOffset, size) = (start * o * h * w, dyTile.start * o * h * w, count * o * h * w)
            // The direct kernel reads dy whole: apply the fused ReLU's mask in one pass first.
            if fusedReLU && !outputGradientMasked {
                vl_relu_backward(output.data + yOffset, dy.data + dyOffset, maskedGrad.data + dyOffset, size)
                dy = maskedGrad
            }
            for plane in 0..<(count * o) {
                bias.grad.data[plane % o] += vl_sum(dy.data + dyOffset + plane * h * w, h * w)
            }
            let tile = directTiles.next(count)
            vl_deconv3x3s1_backward(
                x.data + start * c * h * w, dy.data + dyOffset, count, c, o, h, w, weight.value.data,
                weight.grad.data, computesInputGradient ? inputGrad.data + dxTile.start * c * h * w : nil,
                masksInputGradient ? 1 : 0, tile, scratch.data)
            return
        }
        let cols = count * g.outPlane
        col.resize([g.patchSize, cols])
        // dcol = im2col(dy * (y > 0)), with db += the channel sums of the masked dy in the same pass.
        let tile = outputGradientTile(dy, images, dyTile)
        im2col(tile.dy, batch: count, g, planes: tile.planes, into: col.data, mask: tile.mask, biasGrad: bias.grad.data)
        let (xs, ldx) = channelMajorTile(x, batch: batch, start: start, count: count)
        // dW [C, O*k*k] += X [C, n*P] * dcol^T
        weightGrad.add(a: xs, lda: ldx, b: col.data, ldb: cols, k: cols)
        guard computesInputGradient else { return }
        // dX [C, n*P] = W [C, O*k*k] * dcol: into dx's own columns when it is channel-major, else
        // into the (no longer needed) X tile, then back to NCHW.
        let (dxs, lddx) =
            inputLayout == .channelMajor
            ? (inputGrad.data + dxTile.start * g.outPlane, dxTile.batch * g.outPlane) : (xs, ldx)
        BLAS.gemm(
            m: inputChannels, n: cols, k: g.patchSize,
            a: weight.value.data, lda: g.patchSize, b: col.data, ldb: cols, c: dxs, ldc: lddx)
        if inputLayout == .nchw {
            let (at, size) = (dxTile.start * inputChannels * g.outPlane, count * inputChannels * g.outPlane)
            channelMajorToBatch(
                dxs, batch: count, channels: inputChannels, plane: g.outPlane, bias: nil, into: inputGrad.data + at)
            if masksInputGradient {
                vl_relu_mask_rows(x.data + start * inputChannels * g.outPlane, size, inputGrad.data + at, size, 1, size)
            }
        } else if masksInputGradient {
            vl_relu_mask_rows(xs, ldx, dxs, lddx, inputChannels, cols)
        }
    }

    /// im2col's input for the tile: dy, and y as the fused ReLU's mask when this layer applies it
    /// (im2col multiplies as it reads); a channel-major tile-local dy, laid out unlike y, is masked
    /// into `maskedGrad` first.
    private func outputGradientTile(_ dy: Tensor, _ images: Range<Int>, _ dyTile: (start: Int, batch: Int)) -> (
        dy: UnsafePointer<Float>, mask: UnsafePointer<Float>?, planes: vl_planes
    ) {
        let plane = geometry!.inPlane
        let (dyPlanes, yPlanes) = (
            outputLayout.planes(batch: dyTile.batch, channels: outputChannels, plane: plane),
            outputLayout.planes(batch: batch, channels: outputChannels, plane: plane)
        )
        let dys = UnsafePointer(dy.data + dyTile.start * dyPlanes.image)
        guard fusedReLU && !outputGradientMasked else { return (dys, nil, dyPlanes) }
        let y = UnsafePointer(output.data + images.lowerBound * yPlanes.image)
        if dyPlanes.channel == yPlanes.channel { return (dys, y, dyPlanes) }
        let (rows, cols) = (outputChannels, dyPlanes.channel)
        maskedGrad.resize([rows * cols])
        maskedGrad.data.update(from: dys, count: rows * cols)
        vl_relu_mask_rows(y, yPlanes.channel, maskedGrad.data, cols, rows, cols)
        return (UnsafePointer(maskedGrad.data), nil, dyPlanes)
    }

    public func endBackward() {
        if !usesDirectKernel { weightGrad.finish(into: weight.grad.data) }
        outputGrad = nil
    }

    public func forwardFLOPs(inputShape: [Int]) -> Int {
        let (n, _) = inputLayout.batchAndChannels(inputShape)
        return 2 * n * inputShape[2] * inputShape[3] * inputChannels * outputChannels * kernelSize * kernelSize
    }
}
