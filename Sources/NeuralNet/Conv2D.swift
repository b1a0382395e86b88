import NNKernels

/// 2-D convolution with Keras "same" padding, as im2col + `sgemm` over tiles of the batch.
///
/// x [N, C, H, W] -> y [N, O, ceil(H/s), ceil(W/s)]; weight [O, C, k, k], bias [O].
/// Per tile of images: col = im2col(x) [C*k*k, n*P];  Y [O, n*P] = W * col;  y = permute(Y) + b.
/// Backward per tile: dY = permute(dy);  dW += dY * col^T;  dx = col2im(W^T * dY), with col
/// recomputed from the cached input (dx in one sweep for 3x3 stride 2: `FusedCol2im`).
///
/// Tiles hold as many images as keep the im2col matrix within `convolutionTileBytes` (the whole
/// batch for small layers): one large GEMM per tile, while the matrix stays in cache instead of
/// making a round trip through memory between im2col, the GEMM and col2im.
public final class Conv2D: TiledLayer, InputGradientOptional {
    public let name: String
    public let inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int
    public let weight: Parameter, bias: Parameter
    public var computesInputGradient = true
    /// Apply ReLU to the output inside the layer's last pass (and mask dy in its first
    /// backward pass) instead of a separate `ReLU` layer: two memory passes fewer.
    public var fusedReLU = false
    /// GEMM or the direct 3x3 stride-2 kernel (`NNKernels`) for layers with one or two input
    /// channels (the encoder's first layer: its GEMMs have K = 9 and run far below the peak).
    /// The direct kernel has no input gradient: layers that need one take GEMM for backward.
    public var kernel: ConvolutionKernel = .automatic
    public var parameters: [Parameter] { [weight, bias] }

    /// True when the forward pass for this geometry runs the direct kernel.
    func usesDirectKernel(_ g: ConvGeometry) -> Bool {
        guard g.isEvenStride2Kernel3 else { return false }
        switch kernel {
        case .gemm, .fused: return false
        case .direct: return true
        case .automatic: return inputChannels <= 2
        }
    }
    private let scratch = Tensor(zeros: [0])

    private var geometry: ConvGeometry?
    private var input: Tensor?
    private var batch = 0
    private var pass = TilePass(batch: 0, maxTile: 0)  // of the last forward
    private var gradientPass = TilePass(batch: 0, maxTile: 0)  // of the backward pass under way
    private var outputGrad: Tensor?  // dy, during a backward pass
    private var directTiles = DirectKernelTiles()
    private let col = Tensor(zeros: [0])  // [C*k*k, n*P] for one tile
    private let product = Tensor(zeros: [0])  // [O, n*P] for one tile: forward result, then dY
    private let output = Tensor(zeros: [0])
    private let inputGrad = Tensor(zeros: [0])
    private let weightGrad = TransposedGradient()
    private let fused = FusedCol2im()  // dx = col2im(W^T dY) in one sweep, where it can
    /// The tiles of the last backward pass whose input gradient ran in one sweep (`FusedCol2im`).
    public var fusedTiles: Int { fused.tiles }

    public init(name: String, inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int) {
        self.name = name
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        let kk = kernelSize * kernelSize
        weight = Parameter(
            name: "weight", shape: [outputChannels, inputChannels, kernelSize, kernelSize],
            fanIn: inputChannels * kk, fanOut: outputChannels * kk)
        bias = Parameter(name: "bias", shape: [outputChannels])
    }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        let g = geometry(forInput: inputShape)
        return [inputShape[0], outputChannels, g.outHeight, g.outWidth]
    }

    private func geometry(forInput shape: [Int]) -> ConvGeometry {
        ConvGeometry.same(
            channels: inputChannels, height: shape[2], width: shape[3], kernel: kernelSize, stride: stride)
    }

    public func beginForward(_ x: Tensor, _ pass: TilePass?) -> Tensor {
        precondition(
            x.shape.count == 4 && x.shape[1] == inputChannels,
            "\(name): expected input [N, \(inputChannels), H, W], got \(x.shape)")
        let pass = pass ?? TilePass(batch: x.shape[0], maxTile: x.shape[0])
        precondition(
            x.shape[0] == (pass.localInput ? pass.maxTile : pass.batch), "\(name): x \(x.shape) is not \(pass)")
        let g = geometry(forInput: x.shape)
        (geometry, input, batch, self.pass) = (g, x, pass.batch, pass)
        output.resize([pass.localOutput ? pass.maxTile : pass.batch, outputChannels, g.outHeight, g.outWidth])
        if usesDirectKernel(g) {
            scratch.resize([vl_conv3x3s2_scratch(inputChannels, outputChannels, g.outHeight, g.outWidth)])
        }
        return output
    }

    /// The GEMM path's tiles; the direct kernels go image by image: one tile.
    public func batchTiles(forInput shape: [Int]) -> [Range<Int>] {
        let g = geometry(forInput: shape)
        return backwardIsDirect(g) ? [0..<shape[0]] : tiles(batch: shape[0], rows: g.patchSize, plane: g.outPlane)
    }

    public func forward(images: Range<Int>) {
        guard let g = geometry, let x = input else {
            preconditionFailure("\(name).forward(images:) before beginForward")
        }
        let count = images.count
        let xs = x.data + pass.input(images).start * inputChannels * g.inPlane
        let ys = output.data + pass.output(images).start * outputChannels * g.outPlane
        if usesDirectKernel(g) {
            vl_conv3x3s2_forward(
                xs, count, inputChannels, outputChannels, g.outHeight, g.outWidth, weight.value.data,
                bias.value.data, fusedReLU ? 1 : 0, ys, scratch.data)
            return
        }
        let cols = count * g.outPlane
        col.resize([g.patchSize, cols])
        product.resize([outputChannels, cols])
        im2col(xs, batch: count, g, into: col.data)
        BLAS.gemm(
            m: outputChannels, n: cols, k: g.patchSize,
            a: weight.value.data, lda: g.patchSize, b: col.data, ldb: cols, c: product.data, ldc: cols)
        channelMajorToBatch(
            product.data, batch: count, channels: outputChannels, plane: g.outPlane,
            bias: bias.value.data, relu: fusedReLU, into: ys)
    }

    /// True when the backward pass runs the direct kernel (it has no input gradient).
    private func backwardIsDirect(_ g: ConvGeometry) -> Bool { usesDirectKernel(g) && !computesInputGradient }

    public func beginBackward(_ dy: Tensor, _ pass: TilePass?) -> Tensor {
        guard let g = geometry else { preconditionFailure("\(name).backward before forward") }
        precondition(
            !self.pass.localInput && !self.pass.localOutput, "\(name): backward after a forward that kept one tile")
        let pass = pass ?? TilePass(batch: batch, maxTile: batch)
        let dyBatch = pass.localOutput ? pass.maxTile : batch
        precondition(
            pass.batch == batch && dy.shape == [dyBatch] + output.shape.dropFirst(),
            "\(name): dy \(dy.shape) does not match output \(output.shape) (\(pass))")
        (outputGrad, gradientPass) = (dy, pass)
        zeroGradients()  // the tiles sum into them
        inputGrad.resize([pass.localInput ? pass.maxTile : batch, inputChannels, g.inHeight, g.inWidth])
        if backwardIsDirect(g) {
            directTiles.begin(batch: batch)
        } else {
            weightGrad.begin(rows: outputChannels, columns: g.patchSize)
        }
        fused.begin(
            g, weight: weight.value.data, k: outputChannels,
            enabled: kernel.fusesCol2im && computesInputGradient && !backwardIsDirect(g))
        return inputGrad
    }

    public func backward(images: Range<Int>) {
        guard let g = geometry, let x = input, let dy = outputGrad else {
            preconditionFailure("\(name).backward(images:) before beginBackward")
        }
        let (start, count) = (images.lowerBound, images.count)
        let xs = x.data + start * inputChannels * g.inPlane
        let offset = start * outputChannels * g.outPlane
        let dys = dy.data + gradientPass.output(images).start * outputChannels * g.outPlane
        if backwardIsDirect(g) {
            let tile = directTiles.next(count)
            vl_conv3x3s2_backward_weight(
                xs, dys, fusedReLU ? output.data + offset : nil, count, inputChannels, outputChannels,
                g.outHeight, g.outWidth, weight.grad.data, bias.grad.data, tile, scratch.data)
            return
        }
        let cols = count * g.outPlane
        col.resize([g.patchSize, cols])
        product.resize([outputChannels, cols])
        im2col(xs, batch: count, g, into: col.data)
        maskedBatchToChannelMajor(
            dys, output: fusedReLU ? output.data + offset : nil, batch: count,
            channels: outputChannels, plane: g.outPlane, into: product.data, biasGrad: bias.grad.data)
        // dW [O, Ckk] += dY [O, n*P] * col^T
        weightGrad.add(a: product.data, lda: cols, b: col.data, ldb: cols, k: cols)
        guard computesInputGradient else { return }
        let dx = inputGrad.data + gradientPass.input(images).start * inputChannels * g.inPlane
        if fused.run(
            g, x: product.data, ldx: cols, k: outputChannels, images: count, bias: nil, relu: false, into: dx,
            planes: g.nchwPlanes)
        {
            return
        }
        // dcol [Ckk, n*P] = W^T * dY, reusing the col buffer.
        BLAS.gemm(
            transA: true, m: g.patchSize, n: cols, k: outputChannels,
            a: weight.value.data, lda: g.patchSize, b: product.data, ldb: cols, c: col.data, ldc: cols)
        col2im(col.data, batch: count, g, into: dx)
    }

    public func endBackward() {
        if let g = geometry, !backwardIsDirect(g) { weightGrad.finish(into: weight.grad.data) }
        outputGrad = nil
    }

    public func forwardFLOPs(inputShape: [Int]) -> Int {
        let o = outputShape(for: inputShape)
        return 2 * o[0] * o[2] * o[3] * outputChannels * inputChannels * kernelSize * kernelSize
    }
}

/// Bytes of im2col matrix per tile: small enough to stay in cache between im2col, the GEMM and col2im.
public let convolutionTileBytes = 1 << 20

/// Consecutive (start, count) tiles of a batch whose im2col matrix (rows x count*plane floats)
/// fits in `convolutionTileBytes`; at least one image per tile.
func tiles(batch n: Int, rows: Int, plane: Int) -> [Range<Int>] {
    let perImage = rows * plane * MemoryLayout<Float>.stride
    let size = max(1, min(n, convolutionTileBytes / max(perImage, 1)))
    return stride(from: 0, to: n, by: size).map { $0..<min($0 + size, n) }
}
