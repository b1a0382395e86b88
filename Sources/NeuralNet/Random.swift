/// SplitMix64 (Steele, Lea & Flood 2014): used only to expand a 64-bit seed into generator state.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The named random streams of a run. Each purpose draws from its own generator, so adding an
/// evaluation (which draws from `eval`) can never change what training sees.
public enum RandomStream: String, CaseIterable, Sendable {
    case initialization = "init"
    case shuffle
    case noise
    case eval
    /// Latent draws for the figures of a finished run.
    case figures
    /// Pixel draws of dynamic binarisation (`Binarization`).
    case binarize
}

/// xoshiro256** 1.0 (Blackman & Vigna 2018), seeded through SplitMix64.
///
/// A stream is derived from a run seed and a stream name: the SplitMix64 generator is started
/// at `seed ^ fnv1a64(name)` and its first four outputs are the xoshiro state. Uniform floats
/// take the top 24 bits; normals use Box–Muller in Double precision.
public struct Xoshiro256: RandomNumberGenerator, Sendable, Equatable {
    /// The 256-bit state (saved in checkpoints so a resumed run continues the same sequence).
    public var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        state = (sm.next(), sm.next(), sm.next(), sm.next())
    }

    public init(seed: UInt64, stream: RandomStream) {
        self.init(seed: seed ^ Xoshiro256.fnv1a64(stream.rawValue))
    }

    public init(state words: [UInt64]) {
        precondition(words.count == 4 && words.contains { $0 != 0 }, "xoshiro256 state must be 4 words, not all zero")
        state = (words[0], words[1], words[2], words[3])
    }

    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 bits of resolution.
    @inline(__always)
    public mutating func uniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [low, high).
    @inline(__always)
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * uniform()
    }

    /// A standard normal draw (the cosine branch of one Box–Muller pair).
    public mutating func normal() -> Float {
        let (a, _) = normalPair()
        return a
    }

    /// Fills `buffer` with standard normal draws, using both values of each Box–Muller pair.
    public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>) {
        var i = 0
        while i < buffer.count {
            let (a, b) = normalPair()
            buffer[i] = a
            if i + 1 < buffer.count { buffer[i + 1] = b }
            i += 2
        }
    }

    /// A uniform integer in 0..<bound (Lemire's method, unbiased).
    public mutating func integer(below bound: Int) -> Int {
        precondition(bound > 0)
        return Int(truncatingIfNeeded: next(upperBound: UInt64(bound)))
    }

    @inline(__always)
    private mutating func normalPair() -> (Float, Float) {
        let u1 = (Double(next() >> 11) + 1) * 0x1p-53  // (0, 1]
        let u2 = Double(next() >> 11) * 0x1p-53  // [0, 1)
        let r = (-2 * _log(u1)).squareRoot()
        let theta = 2 * Double.pi * u2
        return (Float(r * _cos(theta)), Float(r * _sin(theta)))
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// 64-bit FNV-1a of a string's UTF-8 bytes.
    public static func fnv1a64(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in s.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return h
    }

    public static func == (a: Xoshiro256, b: Xoshiro256) -> Bool { a.stateWords == b.stateWords }

    /// Fisher–Yates shuffle of `0..<n`, deterministic for a given state.
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = integer(below: i + 1)
            p.swapAt(i, j)
        }
        return p
    }
}

#if canImport(Glibc)
    import Glibc
    @inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
    @inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
    @inline(__always) func _sin(_ x: Double) -> Double { Glibc.sin(x) }
#else
    import Darwin
    @inline(__always) func _log(_ x: Double) -> Double { Darwin.log(x) }
    @inline(__always) func _cos(_ x: Double) -> Double { Darwin.cos(x) }
    @inline(__always) func _sin(_ x: Double) -> Double { Darwin.sin(x) }
#endif
