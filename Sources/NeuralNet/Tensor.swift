#if canImport(Glibc)
    import Glibc
#endif

/// A dense Float32 tensor in row-major (NCHW for images) layout.
///
/// `Tensor` is a reference type on purpose: layers own their output and gradient tensors,
/// allocate them once and reuse them across steps (their capacity only ever grows), and hand
/// them to the next layer without copying. A tensor returned by a layer's `forward` or
/// `backward` is owned by that layer and stays valid until that layer's next call.
///
/// A tensor either owns its storage (64-byte aligned) or is a *view* of storage owned by
/// something else (a flattened activation, a parameter inside the contiguous parameter buffer).
public final class Tensor {
    /// The dimensions, outermost first: `[N, C, H, W]` for images, `[N, F]` for features.
    public private(set) var shape: [Int]
    /// Pointer to the first element; valid for `count` elements.
    public private(set) var data: UnsafeMutablePointer<Float>
    /// Number of elements (`shape` product).
    public private(set) var count: Int
    private var capacity: Int
    private var ownsStorage: Bool

    /// A zero-filled tensor of the given shape.
    public init(zeros shape: [Int]) {
        let n = Tensor.elementCount(shape)
        self.shape = shape
        self.count = n
        self.capacity = Swift.max(n, 1)
        self.data = Tensor.allocate(capacity)
        self.ownsStorage = true
        data.initialize(repeating: 0, count: capacity)
    }

    /// A tensor holding a copy of `values`; `values.count` must equal the shape's product.
    public convenience init(shape: [Int], values: [Float]) {
        precondition(
            values.count == Tensor.elementCount(shape),
            "Tensor(shape: \(shape)) needs \(Tensor.elementCount(shape)) values, got \(values.count)")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { data.update(from: base, count: values.count) }
        }
    }

    /// A non-owning view of `count(shape)` elements at `pointer`. The owner must outlive the view.
    public init(viewing pointer: UnsafeMutablePointer<Float>, shape: [Int]) {
        self.shape = shape
        self.count = Tensor.elementCount(shape)
        self.capacity = count
        self.data = pointer
        self.ownsStorage = false
    }

    deinit {
        if ownsStorage { Tensor.deallocate(data) }
    }

    /// Gives the tensor a new shape, reallocating only when the capacity is too small.
    /// Contents are unspecified afterwards (zero-filled when reallocated). Views cannot grow.
    public func resize(_ newShape: [Int]) {
        if newShape == shape { return }
        let n = Tensor.elementCount(newShape)
        if n > capacity {
            precondition(ownsStorage, "cannot grow a tensor view from \(shape) to \(newShape)")
            Tensor.deallocate(data)
            capacity = n
            data = Tensor.allocate(n)
            data.initialize(repeating: 0, count: n)
        }
        shape = newShape
        count = n
    }

    /// Points a view at other storage (used by reshape layers, which alias their input).
    public func rebind(_ pointer: UnsafeMutablePointer<Float>, shape newShape: [Int]) {
        precondition(!ownsStorage, "rebind is only for views")
        data = pointer
        shape = newShape
        count = Tensor.elementCount(newShape)
        capacity = count
    }

    /// Moves this tensor's contents into `pointer` and makes the tensor a view of it.
    /// Used to gather all parameters into one contiguous buffer.
    public func moveStorage(to pointer: UnsafeMutablePointer<Float>) {
        pointer.update(from: data, count: count)
        if ownsStorage { Tensor.deallocate(data) }
        ownsStorage = false
        data = pointer
        capacity = count
    }

    /// The elements as a buffer.
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    /// A copy of the elements as an array.
    public var array: [Float] { Array(buffer) }

    /// Element access by flat index (for tests and small tools; hot loops use `data`).
    public subscript(i: Int) -> Float {
        get {
            precondition(i >= 0 && i < count, "index \(i) out of range for \(shape)")
            return data[i]
        }
        set {
            precondition(i >= 0 && i < count, "index \(i) out of range for \(shape)")
            data[i] = newValue
        }
    }

    /// Sets every element to zero.
    public func zero() { data.update(repeating: 0, count: count) }

    /// Copies `other`'s elements (same count) into this tensor.
    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy from \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }

    /// The product of the dimensions (1 for a scalar shape `[]`).
    public static func elementCount(_ shape: [Int]) -> Int {
        shape.reduce(1) {
            precondition($1 >= 0, "negative dimension in \(shape)")
            return $0 * $1
        }
    }

    /// Floats of zeroed room past every owned storage's capacity: vector kernels may load a whole
    /// vector at a tensor's last elements (`vl_col2im` reads up to 16 past its input's end).
    static let slack = 16

    /// 64-byte aligned storage of n floats and the slack; buffers of 1 MiB and more are 2 MiB
    /// aligned and asked to be backed by transparent huge pages (im2col / col2im stride through
    /// them, and 4 KiB pages would cost a TLB miss per row).
    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        let bytes = (max(n, 1) + slack) * MemoryLayout<Float>.stride
        let huge = bytes >= 1 << 20
        let alignment = huge ? 2 << 20 : 64
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, alignment, huge ? (bytes + alignment - 1) / alignment * alignment : bytes) == 0,
            let raw
        else {
            fatalError("out of memory allocating \(bytes) bytes for a tensor")
        }
        #if os(Linux)
            if huge { _ = madvise(raw, (bytes + alignment - 1) / alignment * alignment, MADV_HUGEPAGE) }
        #endif
        let data = raw.bindMemory(to: Float.self, capacity: max(n, 1) + slack)
        (data + max(n, 1)).initialize(repeating: 0, count: slack)
        return data
    }

    private static func deallocate(_ p: UnsafeMutablePointer<Float>) { free(UnsafeMutableRawPointer(p)) }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor\(shape)" }
}
