import Support

#if canImport(Glibc)
    import Glibc
#endif

/// An ordered chain of layers: forward in order, backward in reverse.
/// Parameters are named `<sequential>.<layer>.<parameter>` ("encoder.conv1.weight").
public final class Sequential: Layer, WeightFreezing {
    public let name: String
    public let layers: [Layer]
    /// When set, every layer's forward and backward time is added to it.
    public var profiler: Profiler?

    /// Fused runs of layers by the index of their first layer, and the tiles of their last forward.
    private let fused: [Int: [TiledLayer]]
    private var runTiles: [Int: [Range<Int>]] = [:]

    /// `fusingTiles`: runs of adjacent layers whose passes go interleaved tile by tile
    /// (`TiledLayer`), so that each tile handed from one layer to the next is still in cache.
    public init(name: String, _ layers: [Layer], fusingTiles runs: [[TiledLayer]] = []) {
        self.name = name
        self.layers = layers
        var fused: [Int: [TiledLayer]] = [:]
        var taken = Set<Int>()
        for run in runs {
            guard let i = layers.firstIndex(where: { $0 === run.first }), run.count > 1, i + run.count <= layers.count,
                zip(run, layers[i...]).allSatisfy({ $0 === $1 }), taken.isDisjoint(with: i..<(i + run.count))
            else { preconditionFailure("\(name): the fused layers are not a run of adjacent layers of their own") }
            fused[i] = run
            taken.formUnion(i..<(i + run.count))
        }
        self.fused = fused
    }

    public var parameters: [Parameter] { layers.flatMap(\.parameters) }

    /// (full name, parameter) pairs in order.
    public var namedParameters: [(String, Parameter)] {
        layers.flatMap { layer in layer.parameters.map { ("\(name).\(layer.name).\($0.name)", $0) } }
    }

    public func forward(_ x: Tensor) -> Tensor { forward(x, keepingActivations: true) }

    /// Freezes (or thaws) every layer that prepares frozen weights.
    public func freezeWeights(_ frozen: Bool) {
        for case let layer as WeightFreezing in layers { layer.freezeWeights(frozen) }
    }

    /// With `keepingActivations` false, an inference pass (no backward follows): inside a fused run
    /// the layers hand each other one tile at a time (`TilePass`), in buffers that stay in cache.
    public func forward(_ x: Tensor, keepingActivations: Bool) -> Tensor {
        var (h, i) = (x, 0)
        while i < layers.count {
            if let run = fused[i] {
                h = forward(run: run, from: i, h, tileLocal: !keepingActivations)
                i += run.count
            } else {
                let layer = layers[i]
                h = timed(layer, .forward) { layer.forward(h) }
                i += 1
            }
        }
        return h
    }

    /// The run's tiles are the finest of its layers' own; the hand-overs inside the run are
    /// tile-local when asked.
    private func forward(run: [TiledLayer], from first: Int, _ x: Tensor, tileLocal: Bool) -> Tensor {
        var shapes = [x.shape]
        for layer in run.dropLast() { shapes.append(Sequential.outputShape(of: layer, for: shapes.last!)) }
        let tiles = zip(run, shapes).map { $0.batchTiles(forInput: $1) }.max { $0.count < $1.count } ?? []
        runTiles[first] = tiles
        var h = x
        for (j, layer) in run.enumerated() {
            let pass = Self.pass(tiles, layer: j, of: run.count, tileLocal: tileLocal)
            h = timed(layer, .forward) { layer.beginForward(h, pass) }
        }
        for tile in tiles {
            for layer in run { timed(layer, .forward) { layer.forward(images: tile) } }
        }
        return h
    }

    public func backward(_ dy: Tensor) -> Tensor {
        var (g, i) = (dy, layers.count - 1)
        while i >= 0 {
            if let (first, run) = fused.first(where: { $0.key + $0.value.count - 1 == i }) {
                let tiles = runTiles[first] ?? []
                for (j, layer) in run.enumerated().reversed() {
                    let pass = Self.pass(tiles, layer: j, of: run.count, tileLocal: true)
                    g = timed(layer, .backward) { layer.beginBackward(g, pass) }
                }
                for tile in tiles {
                    for layer in run.reversed() { timed(layer, .backward) { layer.backward(images: tile) } }
                }
                for layer in run.reversed() { timed(layer, .backward) { layer.endBackward() } }
                i = first - 1
            } else {
                let layer = layers[i]
                g = timed(layer, .backward) { layer.backward(g) }
                i -= 1
            }
        }
        return g
    }

    /// Layer j of a run of `count` over `tiles`: its hand-overs inside the run tile-local when asked.
    private static func pass(_ tiles: [Range<Int>], layer j: Int, of count: Int, tileLocal: Bool) -> TilePass {
        TilePass(
            batch: tiles.last?.upperBound ?? 0, maxTile: tiles.map(\.count).max() ?? 0,
            localInput: tileLocal && j > 0, localOutput: tileLocal && j < count - 1)
    }

    private enum Pass { case forward, backward }

    /// body(), its wall time and sgemm time added to the layer's profile entry when profiling.
    @discardableResult
    private func timed<R>(_ layer: Layer, _ pass: Pass, _ body: () -> R) -> R {
        guard let profiler else { return body() }
        let (t0, g0) = (monotonicSeconds(), BLAS.gemmSeconds)
        let result = body()
        let (t, g) = (monotonicSeconds() - t0, BLAS.gemmSeconds - g0)
        switch pass {
        case .forward: profiler.add("\(name).\(layer.name)", forward: t, forwardGEMM: g)
        case .backward: profiler.add("\(name).\(layer.name)", backward: t, backwardGEMM: g)
        }
        return result
    }

    public func forwardFLOPs(inputShape: [Int]) -> Int {
        var shape = inputShape
        var total = 0
        for layer in layers {
            total += layer.forwardFLOPs(inputShape: shape)
            shape = Sequential.outputShape(of: layer, for: shape)
        }
        return total
    }

    static func outputShape(of layer: Layer, for shape: [Int]) -> [Int] {
        switch layer {
        case let c as Conv2D: return c.outputShape(for: shape)
        case let t as ConvTranspose2D: return t.outputShape(for: shape)
        case let d as Dense: return [shape[0], d.outputFeatures]
        case let r as Reshape: return [shape[0]] + r.targetShape
        default: return shape
        }
    }
}

/// Accumulated wall time per named layer, for `vaelab bench`'s breakdown.
public final class Profiler {
    /// Seconds per pass, and the part of them spent inside sgemm (when `BLAS.timesGEMM` is on).
    public struct Entry: Sendable { public var forward = 0.0, backward = 0.0, forwardGEMM = 0.0, backwardGEMM = 0.0 }
    public private(set) var entries: [String: Entry] = [:]
    public private(set) var order: [String] = []

    public init() {}

    public func add(
        _ key: String, forward: Double = 0, backward: Double = 0, forwardGEMM: Double = 0,
        backwardGEMM: Double = 0
    ) {
        if entries[key] == nil {
            order.append(key)
            entries[key] = Entry()
        }
        entries[key]!.forward += forward
        entries[key]!.backward += backward
        entries[key]!.forwardGEMM += forwardGEMM
        entries[key]!.backwardGEMM += backwardGEMM
    }

    public func reset() {
        entries = [:]
        order = []
    }
}
