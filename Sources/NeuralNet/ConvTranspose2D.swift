/// 2-D transposed convolution with Keras "same" padding: output size = input size * stride.
///
/// It is the adjoint of the "same" `Conv2D` that maps [N, O, H*s, W*s] to [N, C, H, W], so the
/// forward pass is that convolution's backward-data pass and vice versa.
/// x [N, C, H, W] -> y [N, O, H*s, W*s]; weight [C, O, k, k] (PyTorch layout), bias [O].
/// Per tile of images (see `Conv2D`): X = permute(x) [C, n*P];  col [O*k*k, n*P] = W^T * X;
/// y = col2im(col) + b.  Backward: dcol = im2col(dy);  dW += X * dcol^T;  db += sum dy;
/// dx = permute(W * dcol).
public final class ConvTranspose2D: Layer, InputGradientOptional {
    public let name: String
    public let inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int
    public let weight: Parameter, bias: Parameter
    public var computesInputGradient = true
    /// ReLU fused into the bias pass (forward) and the bias-gradient pass (backward).
    public var fusedReLU = false
    public var parameters: [Parameter] { [weight, bias] }

    private var geometry: ConvGeometry?   // of the adjoint convolution: output plane -> input plane
    private var input: Tensor?
    private let channelMajorInput = Tensor(zeros: [0])  // [C, n*P] for one tile
    private let col = Tensor(zeros: [0])                // [O*k*k, n*P] for one tile
    private let output = Tensor(zeros: [0])
    private let inputGrad = Tensor(zeros: [0])
    private let maskedGrad = Tensor(zeros: [0])   // dy * (y > 0) when the ReLU is fused

    public init(name: String, inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int) {
        self.name = name
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        let kk = kernelSize * kernelSize
        // Keras stores this kernel as (k, k, out, in): fan_in = k*k*out, fan_out = k*k*in.
        weight = Parameter(name: "weight", shape: [inputChannels, outputChannels, kernelSize, kernelSize],
                           fanIn: outputChannels * kk, fanOut: inputChannels * kk)
        bias = Parameter(name: "bias", shape: [outputChannels])
    }

    private func adjointGeometry(height: Int, width: Int) -> ConvGeometry {
        let g = ConvGeometry.same(channels: outputChannels, height: height * stride, width: width * stride,
                                  kernel: kernelSize, stride: stride)
        precondition(g.outHeight == height && g.outWidth == width, "\(name): inconsistent transposed geometry")
        return g
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inputChannels,
                     "\(name): expected input [N, \(inputChannels), H, W], got \(x.shape)")
        let n = x.shape[0]
        let g = adjointGeometry(height: x.shape[2], width: x.shape[3])
        geometry = g
        input = x
        output.resize([n, outputChannels, g.inHeight, g.inWidth])
        for (start, count) in tiles(batch: n, rows: g.patchSize, plane: g.outPlane) {
            let cols = count * g.outPlane
            channelMajorInput.resize([inputChannels, cols])
            col.resize([g.patchSize, cols])
            batchToChannelMajor(x.data + start * inputChannels * g.outPlane, batch: count, channels: inputChannels,
                                plane: g.outPlane, into: channelMajorInput.data)
            // col [O*k*k, n*P] = W^T [O*k*k, C] * X [C, n*P]
            BLAS.gemm(transA: true, m: g.patchSize, n: cols, k: inputChannels,
                      a: weight.value.data, lda: g.patchSize, b: channelMajorInput.data, ldb: cols, c: col.data, ldc: cols)
            col2im(col.data, batch: count, g, into: output.data + start * outputChannels * g.inPlane)
        }
        addChannelBias(output.data, batch: n, channels: outputChannels, plane: g.inPlane, bias: bias.value.data, relu: fusedReLU)
        return output
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let g = geometry, let x = input else { preconditionFailure("\(name).backward before forward") }
        precondition(dy.shape == output.shape, "\(name): dy \(dy.shape) does not match output \(output.shape)")
        let n = x.shape[0]
        var dy = dy
        if fusedReLU {
            maskedGrad.resize(dy.shape)
            maskReLUAndSum(dy.data, output: output.data, batch: n, channels: outputChannels, plane: g.inPlane,
                           into: maskedGrad.data, biasGrad: bias.grad.data)
            dy = maskedGrad
        } else {
            accumulateChannelSums(dy.data, batch: n, channels: outputChannels, plane: g.inPlane, into: bias.grad.data)
        }
        inputGrad.resize([n, inputChannels, g.outHeight, g.outWidth])
        for (start, count) in tiles(batch: n, rows: g.patchSize, plane: g.outPlane) {
            let cols = count * g.outPlane
            channelMajorInput.resize([inputChannels, cols])
            col.resize([g.patchSize, cols])
            im2col(dy.data + start * outputChannels * g.inPlane, batch: count, g, into: col.data)
            batchToChannelMajor(x.data + start * inputChannels * g.outPlane, batch: count, channels: inputChannels,
                                plane: g.outPlane, into: channelMajorInput.data)
            // dW [C, O*k*k] += X [C, n*P] * dcol^T
            BLAS.gemm(transB: true, m: inputChannels, n: g.patchSize, k: cols,
                      a: channelMajorInput.data, lda: cols, b: col.data, ldb: cols, beta: 1,
                      c: weight.grad.data, ldc: g.patchSize)
            guard computesInputGradient else { continue }
            // dX [C, n*P] = W [C, O*k*k] * dcol, into the channel-major buffer, then back to NCHW.
            BLAS.gemm(m: inputChannels, n: cols, k: g.patchSize,
                      a: weight.value.data, lda: g.patchSize, b: col.data, ldb: cols, c: channelMajorInput.data, ldc: cols)
            channelMajorToBatch(channelMajorInput.data, batch: count, channels: inputChannels, plane: g.outPlane,
                                bias: nil, into: inputGrad.data + start * inputChannels * g.outPlane)
        }
        return inputGrad
    }

    public func forwardFLOPs(inputShape: [Int]) -> Int {
        2 * inputShape[0] * inputShape[2] * inputShape[3] * inputChannels * outputChannels * kernelSize * kernelSize
    }
}

/// x[n, c, :] += bias[c], then ReLU when asked.
@inline(__always)
func addChannelBias(_ x: UnsafeMutablePointer<Float>, batch n: Int, channels c: Int, plane p: Int,
                    bias: UnsafePointer<Float>, relu: Bool) {
    for b in 0..<n {
        for ch in 0..<c {
            let d = x + (b * c + ch) * p, bv = bias[ch]
            if relu {
                for i in 0..<p { d[i] = max(d[i] + bv, 0) }
            } else {
                for i in 0..<p { d[i] += bv }
            }
        }
    }
}

/// masked = dy * (y > 0) in NCHW, with the per-channel sums of `masked` added to `db`.
@inline(__always)
func maskReLUAndSum(_ dy: UnsafePointer<Float>, output y: UnsafePointer<Float>, batch n: Int, channels c: Int, plane p: Int,
                    into masked: UnsafeMutablePointer<Float>, biasGrad db: UnsafeMutablePointer<Float>) {
    for b in 0..<n {
        for ch in 0..<c {
            let offset = (b * c + ch) * p
            reluBackward(output: y + offset, dy: dy + offset, into: masked + offset, count: p)
            db[ch] += vectorSum(masked + offset, p)
        }
    }
}
