/// 2-D convolution with Keras "same" padding, as batched im2col + one `sgemm` per pass.
///
/// x [N, C, H, W] -> y [N, O, ceil(H/s), ceil(W/s)]; weight [O, C, k, k], bias [O].
/// Forward:  col = im2col(x) [C*k*k, N*P];  Y [O, N*P] = W * col;  y = permute(Y) + b.
/// Backward: dY = permute(dy);  dW += dY * col^T;  db += sum dY;  dx = col2im(W^T * dY).
public final class Conv2D: Layer, InputGradientOptional {
    public let name: String
    public let inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int
    public let weight: Parameter, bias: Parameter
    public var computesInputGradient = true
    public var parameters: [Parameter] { [weight, bias] }

    private var geometry: ConvGeometry?
    private var batch = 0
    private let col = Tensor(zeros: [0])      // [C*k*k, N*P]
    private let product = Tensor(zeros: [0])  // [O, N*P]: forward result, then dY in backward
    private let output = Tensor(zeros: [0])
    private let inputGrad = Tensor(zeros: [0])

    public init(name: String, inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int) {
        self.name = name
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        let kk = kernelSize * kernelSize
        weight = Parameter(name: "weight", shape: [outputChannels, inputChannels, kernelSize, kernelSize],
                           fanIn: inputChannels * kk, fanOut: outputChannels * kk)
        bias = Parameter(name: "bias", shape: [outputChannels])
    }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        let g = ConvGeometry.same(channels: inputChannels, height: inputShape[2], width: inputShape[3],
                                  kernel: kernelSize, stride: stride)
        return [inputShape[0], outputChannels, g.outHeight, g.outWidth]
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inputChannels,
                     "\(name): expected input [N, \(inputChannels), H, W], got \(x.shape)")
        let n = x.shape[0]
        let g = ConvGeometry.same(channels: inputChannels, height: x.shape[2], width: x.shape[3],
                                  kernel: kernelSize, stride: stride)
        geometry = g
        batch = n
        let cols = n * g.outPlane
        col.resize([g.patchSize, cols])
        product.resize([outputChannels, cols])
        output.resize([n, outputChannels, g.outHeight, g.outWidth])
        im2col(x.data, batch: n, g, into: col.data)
        BLAS.gemm(m: outputChannels, n: cols, k: g.patchSize,
                  a: weight.value.data, lda: g.patchSize, b: col.data, ldb: cols, c: product.data, ldc: cols)
        channelMajorToBatch(product.data, batch: n, channels: outputChannels, plane: g.outPlane,
                            bias: bias.value.data, into: output.data)
        return output
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let g = geometry else { preconditionFailure("\(name).backward before forward") }
        precondition(dy.shape == output.shape, "\(name): dy \(dy.shape) does not match output \(output.shape)")
        let n = batch, cols = n * g.outPlane
        accumulateChannelSums(dy.data, batch: n, channels: outputChannels, plane: g.outPlane, into: bias.grad.data)
        batchToChannelMajor(dy.data, batch: n, channels: outputChannels, plane: g.outPlane, into: product.data)
        // dW [O, Ckk] += dY [O, N*P] * col^T
        BLAS.gemm(transB: true, m: outputChannels, n: g.patchSize, k: cols,
                  a: product.data, lda: cols, b: col.data, ldb: cols, beta: 1, c: weight.grad.data, ldc: g.patchSize)
        inputGrad.resize([n, inputChannels, g.inHeight, g.inWidth])
        guard computesInputGradient else { return inputGrad }
        // dcol [Ckk, N*P] = W^T * dY, reusing the col buffer.
        BLAS.gemm(transA: true, m: g.patchSize, n: cols, k: outputChannels,
                  a: weight.value.data, lda: g.patchSize, b: product.data, ldb: cols, c: col.data, ldc: cols)
        col2im(col.data, batch: n, g, into: inputGrad.data)
        return inputGrad
    }

    public func forwardFLOPs(inputShape: [Int]) -> Int {
        let o = outputShape(for: inputShape)
        return 2 * o[0] * o[2] * o[3] * outputChannels * inputChannels * kernelSize * kernelSize
    }
}
