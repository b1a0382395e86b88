import NNKernels

/// All parameters of a model gathered into one contiguous value buffer and one contiguous
/// gradient buffer, so that summing replicas' gradients and the Adam update are single flat loops.
/// Each `Parameter`'s tensors become views into these buffers.
public final class ParameterStore {
    public let named: [(String, Parameter)]
    public let count: Int
    /// This store's values, or after `shareValues(of:)` its owner's.
    public private(set) var values: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>
    private var valueOwner: ParameterStore?  // keeps the shared values alive

    public init(_ named: [(String, Parameter)]) {
        var seen = Set<String>()
        for (name, _) in named { precondition(seen.insert(name).inserted, "duplicate parameter name \(name)") }
        self.named = named
        count = named.reduce(0) { $0 + $1.1.value.count }
        values = .allocate(capacity: max(count, 1))
        gradients = .allocate(capacity: max(count, 1))
        gradients.initialize(repeating: 0, count: max(count, 1))
        var offset = 0
        for (_, p) in named {
            p.value.moveStorage(to: values + offset)
            p.grad.moveStorage(to: gradients + offset)
            offset += p.value.count
        }
    }

    deinit {
        if valueOwner == nil { values.deallocate() }
        gradients.deallocate()
    }

    /// Makes every parameter's value a view of the same parameter in `owner` (a store of the same
    /// parameters, names and shapes): a replica then reads the weights the optimiser writes into
    /// `owner`, with no copy. The gradients stay this store's own.
    public func shareValues(of owner: ParameterStore) {
        precondition(
            owner !== self && owner.count == count
                && zip(named, owner.named).allSatisfy { $0.0 == $1.0 && $0.1.value.shape == $1.1.value.shape },
            "shareValues: the stores hold different parameters")
        if valueOwner == nil { values.deallocate() }
        values = owner.values
        valueOwner = owner
        var offset = 0
        for (_, p) in named {
            p.value.rebind(values + offset, shape: p.value.shape)
            offset += p.value.count
        }
    }

    public func zeroGradients() { gradients.update(repeating: 0, count: count) }

    /// Glorot-uniform weights (limit sqrt(6 / (fan_in + fan_out))), zero biases, drawn in
    /// parameter order from `rng` (the run's `init` stream).
    public func glorotUniformInit(_ rng: inout Xoshiro256) {
        for (_, p) in named {
            if p.fanIn + p.fanOut == 0 {
                p.value.zero()
                continue
            }
            let limit = (6 / Float(p.fanIn + p.fanOut)).squareRoot()
            for i in 0..<p.value.count { p.value.data[i] = rng.uniform(-limit, limit) }
        }
    }
}

/// Adam (Kingma & Ba 2015) with bias correction, in the form Keras uses:
/// m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;  p -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps).
/// Defaults are Keras's: lr 1e-3, b1 0.9, b2 0.999, eps 1e-7.
public final class Adam {
    public let learningRate: Float, beta1: Float, beta2: Float, epsilon: Float
    public private(set) var step = 0
    public let count: Int
    public let m: UnsafeMutablePointer<Float>
    public let v: UnsafeMutablePointer<Float>

    public init(count: Int, learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7)
    {
        self.count = count
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        m = .allocate(capacity: max(count, 1))
        m.initialize(repeating: 0, count: max(count, 1))
        v = .allocate(capacity: max(count, 1))
        v.initialize(repeating: 0, count: max(count, 1))
    }

    deinit {
        m.deallocate()
        v.deallocate()
    }

    /// One update of `params` from `grads` (both `count` long).
    public func update(_ params: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>) {
        apply(params, gradients: g, range: 0..<count, alpha: advance())
    }

    /// An update in pieces (several threads, each its own range): `advance()` once, then
    /// `apply` over ranges that cover 0 ..< count once each. Every element's arithmetic is the
    /// same as in `update`, so are the bits.
    public func advance() -> Float {
        step += 1
        let t = Double(step)
        return Float(Double(learningRate) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
    }

    /// The update of the parameters in `range`, with the step size `advance()` returned.
    public func apply(
        _ params: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, range: Range<Int>, alpha: Float
    ) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        let lo = range.lowerBound
        vl_adam_update(params + lo, g + lo, m + lo, v + lo, range.count, alpha, beta1, beta2, epsilon)
    }

    /// Restores the optimiser state (for resuming from a checkpoint).
    public func restore(step: Int, m newM: [Float], v newV: [Float]) {
        precondition(newM.count == count && newV.count == count, "Adam state size mismatch")
        self.step = step
        newM.withUnsafeBufferPointer { m.update(from: $0.baseAddress!, count: count) }
        newV.withUnsafeBufferPointer { v.update(from: $0.baseAddress!, count: count) }
    }
}

#if canImport(Glibc)
    import Glibc
#endif

/// The one mapping between a model's parameters and named tensors (weights and checkpoint files).
extension ParameterStore {
    /// Every parameter as a named tensor, in store order.
    public var namedTensors: [NamedTensor] {
        named.map { name, p in NamedTensor(name: name, shape: p.value.shape, values: p.value.array) }
    }

    /// The first parameter that `tensors` lacks or holds in another shape; nil when all fit.
    public func firstMismatch(in tensors: [String: NamedTensor]) -> String? {
        named.first { name, p in tensors[name]?.shape != p.value.shape }?.0
    }

    /// Copies every parameter from `tensors`, which must fit (`firstMismatch` is nil).
    public func load(_ tensors: [String: NamedTensor]) {
        precondition(firstMismatch(in: tensors) == nil, "the tensors do not fit the model")
        for (name, p) in named {
            tensors[name]!.values.withUnsafeBufferPointer {
                p.value.data.update(from: $0.baseAddress!, count: p.value.count)
            }
        }
    }
}
