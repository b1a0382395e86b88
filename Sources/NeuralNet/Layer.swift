import NNKernels

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
/// `forward` caches what `backward` needs; `backward(dy)` returns dL/dx and **sets** every
/// parameter's `grad` to dL/dθ (nothing zeroes gradients before a step). The returned tensors
/// belong to the layer and are reused by its next call: copy them if you need them longer.
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
    /// Zeroes the parameters' gradients, for a backward pass that then sums into them.
    func zeroGradients() { for p in parameters { p.grad.zero() } }
    public func forwardFLOPs(inputShape: [Int]) -> Int { 0 }
}

/// A layer that can prepare its weights once for a series of inference passes during which they do
/// not change (an evaluation over the test set): `freezeWeights(true)` before the passes,
/// `freezeWeights(false)` after, and no backward pass or weight update in between.
public protocol WeightFreezing: Layer {
    func freezeWeights(_ frozen: Bool)
}

/// Layers that can skip computing dL/dx (the first layer of a network, whose input is data).
public protocol InputGradientOptional: Layer {
    var computesInputGradient: Bool { get set }
}

/// A layer whose batch passes run as tiles of images, so that `Sequential` can interleave a run of
/// such layers tile by tile (`Sequential(name:_:fusingTiles:)`): each layer takes each tile of
/// the layer before's output (and, backward, of the layer after's input gradient) while it is in
/// cache.
///
/// A pass is `begin`, then calls for consecutive tiles that cover the batch in order, then (for
/// backward) `endBackward`. Outputs and input gradients are per image, whatever the tiles; a direct
/// kernel also sums its weight gradient image by image across the calls, but the GEMM path sums it
/// per tile: `Sequential` runs a fused run in the finest of its layers' own tilings.
public protocol TiledLayer: Layer {
    /// Starts a forward pass over x; returns the output, which `forward(images:)` fills. `pass`
    /// says which of the two hold one tile only (nil: x is the whole batch, and so is the output).
    func beginForward(_ x: Tensor, _ pass: TilePass?) -> Tensor
    func forward(images: Range<Int>)
    /// Starts the backward pass for dy (zeroing the parameters' gradients, which the pass sets by
    /// `endBackward`); returns dx, which `backward(images:)` fills. Each tile of dy must be final
    /// when that tile's call comes. `pass`: which of dx (input) and dy (output)
    /// hold one tile only (nil: neither). Not after a forward pass that kept one tile.
    func beginBackward(_ dy: Tensor, _ pass: TilePass?) -> Tensor
    func backward(images: Range<Int>)
    /// Adds what the tiles summed to the parameters' gradients.
    func endBackward()
    /// The tiles this layer takes a batch of input of this shape in on its own.
    func batchTiles(forInput shape: [Int]) -> [Range<Int>]
}

/// One pass of a fused run as its layer sees it. Inside the run the layers hand each other one tile
/// at a time, in buffers of `maxTile` images that stay in cache, instead of whole-batch tensors,
/// wherever nothing else reads them: the gradients of every backward pass, and the activations of
/// an inference pass (a forward no backward follows). A tile-local buffer holds the current tile
/// from its first image (a channel-major one as [C, tile, H, W]).
public struct TilePass: Sendable {
    /// Images in the whole pass, and in its largest tile.
    public var batch: Int, maxTile: Int
    /// x (backward: dx) holds the current tile only; the output (backward: dy) does.
    public var localInput: Bool, localOutput: Bool

    public init(batch: Int, maxTile: Int, localInput: Bool = false, localOutput: Bool = false) {
        (self.batch, self.maxTile, self.localInput, self.localOutput) = (batch, maxTile, localInput, localOutput)
    }

    /// Where the current tile starts in x, and the batch size x's layout is laid out for.
    func input(_ tile: Range<Int>) -> (start: Int, batch: Int) {
        localInput ? (0, tile.count) : (tile.lowerBound, batch)
    }

    /// The same for the output.
    func output(_ tile: Range<Int>) -> (start: Int, batch: Int) {
        localOutput ? (0, tile.count) : (tile.lowerBound, batch)
    }
}

extension TiledLayer {
    public func forward(_ x: Tensor) -> Tensor {
        let y = beginForward(x, nil)
        for tile in batchTiles(forInput: x.shape) { forward(images: tile) }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let dx = beginBackward(dy, nil)
        for tile in batchTiles(forInput: dx.shape) { backward(images: tile) }
        endBackward()
        return dx
    }
}

/// Where a direct kernel's backward call falls in its batch's tiles (`VL_TILE_*`): the kernel
/// starts its weight-gradient sums on the first call and adds them to the gradient on the last.
struct DirectKernelTiles {
    private var batch = 0, left = 0

    mutating func begin(batch: Int) { (self.batch, left) = (batch, batch) }

    /// The flags for the next call, of `count` images.
    mutating func next(_ count: Int) -> Int32 {
        defer { left -= count }
        return Int32((left == batch ? VL_TILE_FIRST : 0) | (count == left ? VL_TILE_LAST : 0))
    }
}
