/// Fully connected layer. x [N, in] -> y [N, out] = x * W^T + b; weight [out, in], bias [out].
/// Backward: dW = dy^T * x;  db = column sums of dy;  dx = dy * W.
public final class Dense: Layer, InputGradientOptional, WeightFreezing {
    public let name: String
    public let inputFeatures: Int, outputFeatures: Int
    public let weight: Parameter, bias: Parameter
    public var computesInputGradient = true
    /// ReLU applied to the output inside the layer (and dy masked in its backward).
    public var fusedReLU = false
    public var parameters: [Parameter] { [weight, bias] }

    private var input: Tensor?
    private let output = Tensor(zeros: [0])
    private let inputGrad = Tensor(zeros: [0])
    private let maskedGrad = Tensor(zeros: [0])
    /// W^T [in, out] while the weights are frozen (empty otherwise): the forward GEMM reads it
    /// instead of transposing W in every call, with the same bits.
    private let frozenTranspose = Tensor(zeros: [0])

    public init(name: String, inputFeatures: Int, outputFeatures: Int) {
        self.name = name
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        weight = Parameter(
            name: "weight", shape: [outputFeatures, inputFeatures],
            fanIn: inputFeatures, fanOut: outputFeatures)
        bias = Parameter(name: "bias", shape: [outputFeatures])
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(
            x.shape.count == 2 && x.shape[1] == inputFeatures,
            "\(name): expected input [N, \(inputFeatures)], got \(x.shape)")
        let n = x.shape[0]
        input = x
        output.resize([n, outputFeatures])
        let y = output.data
        let b = bias.value.data
        for i in 0..<n { (y + i * outputFeatures).update(from: b, count: outputFeatures) }
        BLAS.gemm(
            transB: true, m: n, n: outputFeatures, k: inputFeatures,
            a: x.data, lda: inputFeatures, b: weight.value.data, ldb: inputFeatures,
            beta: 1, c: y, ldc: outputFeatures, transposedB: frozenTranspose.count > 0 ? frozenTranspose.data : nil)
        if fusedReLU { for i in 0..<output.count { y[i] = max(y[i], 0) } }
        return output
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("\(name).backward before forward") }
        precondition(frozenTranspose.count == 0, "\(name).backward while its weights are frozen")
        let n = x.shape[0]
        precondition(
            dy.shape == [n, outputFeatures], "\(name): dy \(dy.shape) does not match output [\(n), \(outputFeatures)]")
        var dy = dy
        if fusedReLU {
            maskedGrad.resize(dy.shape)
            reluBackward(output: output.data, dy: dy.data, into: maskedGrad.data, count: dy.count)
            dy = maskedGrad
        }
        let db = bias.grad.data
        db.update(repeating: 0, count: outputFeatures)
        for i in 0..<n {
            let row = dy.data + i * outputFeatures
            for j in 0..<outputFeatures { db[j] += row[j] }
        }
        // beta 0: dW is written, never read (3.2 MB at H = 256)
        BLAS.gemm(
            transA: true, m: outputFeatures, n: inputFeatures, k: n,
            a: dy.data, lda: outputFeatures, b: x.data, ldb: inputFeatures,
            c: weight.grad.data, ldc: inputFeatures)
        inputGrad.resize([n, inputFeatures])
        guard computesInputGradient else { return inputGrad }
        BLAS.gemm(
            m: n, n: inputFeatures, k: outputFeatures,
            a: dy.data, lda: outputFeatures, b: weight.value.data, ldb: inputFeatures,
            c: inputGrad.data, ldc: inputFeatures)
        return inputGrad
    }

    /// Frozen: W^T [in, out] = W [out, in] transposed once, for the inference passes that follow.
    public func freezeWeights(_ frozen: Bool) {
        guard frozen else { return frozenTranspose.resize([0]) }
        frozenTranspose.resize([inputFeatures, outputFeatures])
        // [out, in] -> [in, out]: W as a batch of `out` rows of `in` one-float channels
        batchToChannelMajor(
            weight.value.data, batch: outputFeatures, channels: inputFeatures, plane: 1, into: frozenTranspose.data)
    }

    public func forwardFLOPs(inputShape: [Int]) -> Int { 2 * inputShape[0] * inputFeatures * outputFeatures }
}
