/// A trainable tensor with its gradient. `name` is local to its layer ("weight", "bias");
/// models prefix it with the layer path ("encoder.conv1.weight").
public final class Parameter {
    public let name: String
    public let value: Tensor
    public let grad: Tensor
    /// Fan-in and fan-out for Glorot initialisation (0 for biases, which start at zero).
    public let fanIn: Int
    public let fanOut: Int

    public init(name: String, shape: [Int], fanIn: Int = 0, fanOut: Int = 0) {
        self.name = name
        self.value = Tensor(zeros: shape)
        self.grad = Tensor(zeros: shape)
        self.fanIn = fanIn
        self.fanOut = fanOut
    }
}

/// One differentiable step of a network: a forward/backward pair.
///
/// `forward` caches what `backward` needs; `backward(dy)` returns dL/dx and **accumulates**
/// (`+=`) into every parameter's `grad`. The returned tensors belong to the layer and are
/// reused by its next call: copy them if you need them longer.
public protocol Layer: AnyObject {
    /// A short name for reports and profiles ("conv1", "relu").
    var name: String { get }
    /// Trainable parameters, in a fixed order.
    var parameters: [Parameter] { get }
    func forward(_ x: Tensor) -> Tensor
    func backward(_ dy: Tensor) -> Tensor
    /// Forward FLOPs for one input of the given (batched) shape; for throughput reports.
    func forwardFLOPs(inputShape: [Int]) -> Int
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public func forwardFLOPs(inputShape: [Int]) -> Int { 0 }
}

/// Layers that can skip computing dL/dx (the first layer of a network, whose input is data).
public protocol InputGradientOptional: Layer {
    var computesInputGradient: Bool { get set }
}
