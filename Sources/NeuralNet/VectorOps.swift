/// Small vectorised loops shared by layers and losses (explicit SIMD so the reductions
/// vectorise without relying on the optimiser reassociating floating-point adds).

/// The sum of `count` floats, accumulated in 16 lanes and combined in a fixed order.
@inline(__always)
public func vectorSum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 16 <= count {
        acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    var total = acc.sum()
    while i < count {
        total += p[i]
        i += 1
    }
    return total
}

/// The dot product of two float arrays in Double precision (used by tests and checks).
public func dotDouble(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { s += Double(a[i]) * Double(b[i]) }
    return s
}
