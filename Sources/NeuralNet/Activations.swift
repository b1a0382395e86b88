import NNKernels

#if canImport(Glibc)
    import Glibc
#endif

/// Rectified linear unit, y = max(x, 0); dx = dy where y > 0. Any shape.
public final class ReLU: Layer {
    public let name: String
    private let output = Tensor(zeros: [0])
    private let inputGrad = Tensor(zeros: [0])

    public init(name: String = "relu") { self.name = name }

    public func forward(_ x: Tensor) -> Tensor {
        output.resize(x.shape)
        let s = x.data
        let d = output.data
        for i in 0..<x.count { d[i] = s[i] > 0 ? s[i] : 0 }
        return output
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(dy.shape == output.shape, "\(name): dy \(dy.shape) does not match output \(output.shape)")
        inputGrad.resize(dy.shape)
        reluBackward(output: output.data, dy: dy.data, into: inputGrad.data, count: dy.count)
        return inputGrad
    }
}

/// dx = dy where y > 0, else 0 (`NNKernels`' branch-free masked select, vectorised per CPU level).
@inline(__always)
public func reluBackward(
    output y: UnsafePointer<Float>, dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
    count: Int
) {
    vl_relu_backward(y, dy, dx, count)
}

/// Logistic sigmoid, y = 1 / (1 + e^-x); dx = dy * y * (1 - y). Any shape.
/// Training uses the fused BCE-with-logits loss instead; this layer turns logits into pixels.
public final class Sigmoid: Layer {
    public let name: String
    private let output = Tensor(zeros: [0])
    private let inputGrad = Tensor(zeros: [0])

    public init(name: String = "sigmoid") { self.name = name }

    public func forward(_ x: Tensor) -> Tensor {
        output.resize(x.shape)
        sigmoid(x.data, into: output.data, count: x.count)
        return output
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(dy.shape == output.shape, "\(name): dy \(dy.shape) does not match output \(output.shape)")
        inputGrad.resize(dy.shape)
        let y = output.data
        let g = dy.data
        let d = inputGrad.data
        for i in 0..<dy.count { d[i] = g[i] * y[i] * (1 - y[i]) }
        return inputGrad
    }
}

/// Elementwise logistic sigmoid, stable for large |x|.
@inline(__always)
public func sigmoid(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        let v = x[i]
        if v >= 0 {
            y[i] = 1 / (1 + expf(-v))
        } else {
            let e = expf(v)
            y[i] = e / (1 + e)
        }
    }
}

/// Reshape without copying: the output is a view of the input with another shape
/// (`[-1]` in the first position keeps the batch dimension). Used as Flatten and Unflatten.
public final class Reshape: Layer {
    public let name: String
    /// Per-example shape of the output (the batch dimension is kept).
    public let targetShape: [Int]
    private var inputShape: [Int] = []
    private var outputView: Tensor?
    private var gradView: Tensor?

    public init(name: String, to targetShape: [Int]) {
        self.name = name
        self.targetShape = targetShape
    }

    public func forward(_ x: Tensor) -> Tensor {
        let n = x.shape[0]
        let shape = [n] + targetShape
        precondition(Tensor.elementCount(shape) == x.count, "\(name): cannot reshape \(x.shape) to \(shape)")
        inputShape = x.shape
        let view = outputView ?? Tensor(viewing: x.data, shape: shape)
        view.rebind(x.data, shape: shape)
        outputView = view
        return view
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(
            dy.count == Tensor.elementCount(inputShape), "\(name): dy \(dy.shape) does not match \(inputShape)")
        let view = gradView ?? Tensor(viewing: dy.data, shape: inputShape)
        view.rebind(dy.data, shape: inputShape)
        gradView = view
        return view
    }
}
