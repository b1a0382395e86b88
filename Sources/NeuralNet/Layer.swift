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

/// A layer whose batch passes run as tiles of images, so that `Sequential` can interleave two such
/// layers tile by tile (`Sequential(name:_:fusingTiles:)`): the lower layer takes each tile of the
/// upper one's output, and the upper one each tile of its output gradient, while it is in cache.
///
/// A pass is `begin`, then calls for consecutive tiles that cover the batch in order, then (for
/// backward) `endBackward`. Outputs and input gradients are per image, whatever the tiles; a direct
/// kernel also sums its weight gradient image by image across the calls, but the GEMM path sums it
/// per tile: `Sequential` runs a fused pair in the finer of the two layers' own tilings.
public protocol TiledLayer: Layer {
    /// Starts a forward pass over x; returns the output, which `forward(images:)` fills.
    func beginForward(_ x: Tensor) -> Tensor
    func forward(images: Range<Int>)
    /// Starts the backward pass for dy; returns dx, which `backward(images:)` fills. Each tile of
    /// dy must be final when that tile's call comes.
    func beginBackward(_ dy: Tensor) -> Tensor
    func backward(images: Range<Int>)
    /// Adds what the tiles summed to the parameters' gradients.
    func endBackward()
    /// The tiles this layer would take the current batch in on its own (after `beginForward`).
    var batchTiles: [Range<Int>] { get }
}

extension TiledLayer {
    public func forward(_ x: Tensor) -> Tensor {
        let y = beginForward(x)
        for tile in batchTiles { forward(images: tile) }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let dx = beginBackward(dy)
        for tile in batchTiles { backward(images: tile) }
        endBackward()
        return dx
    }
}
