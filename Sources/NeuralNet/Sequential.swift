import Support

#if canImport(Glibc)
    import Glibc
#endif

/// An ordered chain of layers: forward in order, backward in reverse.
/// Parameters are named `<sequential>.<layer>.<parameter>` ("encoder.conv1.weight").
public final class Sequential: Layer {
    public let name: String
    public let layers: [Layer]
    /// When set, every layer's forward and backward time is added to it.
    public var profiler: Profiler?

    public init(name: String, _ layers: [Layer]) {
        self.name = name
        self.layers = layers
    }

    public var parameters: [Parameter] { layers.flatMap(\.parameters) }

    /// (full name, parameter) pairs in order.
    public var namedParameters: [(String, Parameter)] {
        layers.flatMap { layer in layer.parameters.map { ("\(name).\(layer.name).\($0.name)", $0) } }
    }

    public func forward(_ x: Tensor) -> Tensor {
        var h = x
        for layer in layers {
            if let profiler {
                let t0 = monotonicSeconds()
                let g0 = BLAS.gemmSeconds
                h = layer.forward(h)
                profiler.add(
                    "\(name).\(layer.name)", forward: monotonicSeconds() - t0, forwardGEMM: BLAS.gemmSeconds - g0)
            } else {
                h = layer.forward(h)
            }
        }
        return h
    }

    public func backward(_ dy: Tensor) -> Tensor {
        var g = dy
        for layer in layers.reversed() {
            if let profiler {
                let t0 = monotonicSeconds()
                let g0 = BLAS.gemmSeconds
                g = layer.backward(g)
                profiler.add(
                    "\(name).\(layer.name)", backward: monotonicSeconds() - t0, backwardGEMM: BLAS.gemmSeconds - g0)
            } else {
                g = layer.backward(g)
            }
        }
        return g
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
