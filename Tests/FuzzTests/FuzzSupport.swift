import Foundation
import NeuralNet
import Testing

#if canImport(Glibc)
    import Glibc
#endif

// MARK: - Settings

/// Knobs read from the environment, so CI runs a short pass and `make fuzz` a long one.
///
/// - `VAELAB_FUZZ_ITERATIONS`: inputs per target (default `defaultIterations`). Targets that go
///   through files on disk (checkpoint restore, metrics verification) run a fifth of that.
/// - `VAELAB_FUZZ_SEED`: the seed (decimal or 0x-hex); every target derives its own stream from it
///   and its name, so a run is the same for the same seed whatever the test order.
enum FuzzSettings {
    static let defaultIterations = 6000
    static let defaultSeed: UInt64 = 0x7661_656C_6162_2107

    static var iterations: Int {
        guard let text = ProcessInfo.processInfo.environment["VAELAB_FUZZ_ITERATIONS"], let n = Int(text), n >= 0 else {
            return defaultIterations
        }
        return n
    }

    static var seed: UInt64 {
        guard let text = ProcessInfo.processInfo.environment["VAELAB_FUZZ_SEED"] else { return defaultSeed }
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt64(text.dropFirst(2), radix: 16) ?? defaultSeed }
        return UInt64(text) ?? defaultSeed
    }

    /// The repository root, found from this file (…/Tests/FuzzTests/FuzzSupport.swift).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func repoFile(_ relative: String) -> [UInt8]? {
        FileManager.default.contents(atPath: repoRoot.appendingPathComponent(relative).path).map { [UInt8]($0) }
    }
}

// MARK: - Random numbers

/// A seeded generator (SplitMix64) with the draws the mutators need.
struct FuzzRNG {
    private var generator: SplitMix64

    init(seed: UInt64, target: String) {
        // FNV-1a of the target name: stable across processes (Hasher is randomly seeded).
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in target.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        generator = SplitMix64(seed: seed ^ h)
    }

    mutating func next() -> UInt64 { generator.next() }
    /// Uniform in 0..<n (n > 0).
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    mutating func chance(_ numerator: Int, in denominator: Int) -> Bool { below(denominator) < numerator }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
}

// MARK: - Mutations

/// Byte-level and JSON-token-level mutations over a corpus of valid inputs.
struct Mutator {
    /// Inputs never grow past this (keeps the pass fast and allocation-bounded).
    var maxLength = 1 << 18
    /// Repairs a format's checksums or length fields after most mutations (3 in 4), so that inputs
    /// get past the first integrity check into the parser proper.
    var fixup: (([UInt8]) -> [UInt8])? = nil

    static let interestingBytes: [UInt8] = [
        0x00, 0xFF, 0x7F, 0x80, 0x01, 0x20, 0x0A, 0x22, 0x5C, 0x7B, 0x5B, 0x2C, 0x3A, 0xC0, 0xED,
    ]
    static let interestingWords: [UInt64] = [
        0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0x8000_0000,
        0xFFFF_FFFF, 0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF,
        100_000_000, 100_000_001, 16384, 16385, 28, 784, 0x0801, 0x0803,
    ]

    /// One mutated input: a corpus entry with 1-4 stacked mutations (JSON ones too when `json`).
    func mutate(_ corpus: [[UInt8]], json: Bool, rng: inout FuzzRNG) -> [UInt8] {
        var data = rng.pick(corpus)
        // Mostly one or two mutations: more of them rarely leave anything a parser gets far into.
        let rounds = rng.chance(1, in: 2) ? 1 : rng.chance(1, in: 2) ? 2 : 3 + rng.below(3)
        for _ in 0..<rounds {
            if json && rng.chance(3, in: 4) {
                data = JSONMutator.mutate(data, corpus: corpus, rng: &rng)
            } else {
                data = mutateBytes(data, corpus: corpus, rng: &rng)
            }
            if data.count > maxLength { data.removeLast(data.count - maxLength) }
        }
        if let fixup, rng.chance(3, in: 4) { data = fixup(data) }
        return data
    }

    func mutateBytes(_ input: [UInt8], corpus: [[UInt8]], rng: inout FuzzRNG) -> [UInt8] {
        var d = input
        // Mutations near the start hit headers (length prefixes, magics, dimensions) more often.
        func offset(_ count: Int) -> Int {
            guard count > 0 else { return 0 }
            return rng.chance(1, in: 3) ? rng.below(min(count, 64)) : rng.below(count)
        }
        switch rng.below(11) {
        case 0:  // flip a bit
            guard !d.isEmpty else { return [rng.byte()] }
            let i = offset(d.count)
            d[i] ^= 1 << UInt8(rng.below(8))
        case 1:  // an interesting byte
            guard !d.isEmpty else { return [rng.pick(Self.interestingBytes)] }
            d[offset(d.count)] = rng.pick(Self.interestingBytes)
        case 2:  // a random byte
            guard !d.isEmpty else { return [rng.byte()] }
            d[offset(d.count)] = rng.byte()
        case 3:  // insert random or interesting bytes
            let n = 1 + rng.below(8)
            let bytes = (0..<n).map { _ in rng.chance(1, in: 2) ? rng.byte() : rng.pick(Self.interestingBytes) }
            d.insert(contentsOf: bytes, at: rng.below(d.count + 1))
        case 4:  // delete a range
            guard !d.isEmpty else { return d }
            let start = offset(d.count)
            let n = 1 + rng.below(min(d.count - start, rng.chance(1, in: 4) ? 256 : 8))
            d.removeSubrange(start..<(start + n))
        case 5:  // duplicate a range somewhere else
            guard !d.isEmpty else { return d }
            let start = rng.below(d.count)
            let n = 1 + rng.below(min(d.count - start, 512))
            let copies = rng.chance(1, in: 8) ? 1 + rng.below(16) : 1
            let chunk = Array(d[start..<(start + n)])
            let at = rng.below(d.count + 1)
            for _ in 0..<copies { d.insert(contentsOf: chunk, at: at) }
        case 6:  // truncate
            guard !d.isEmpty else { return d }
            d.removeLast(d.count - rng.below(d.count))
        case 7:  // splice: a prefix of this input and a suffix of another
            let other = rng.pick(corpus)
            let cut = rng.below(d.count + 1)
            let from = rng.below(other.count + 1)
            d = Array(d[..<cut]) + Array(other[from...])
        case 8, 9:  // an interesting 1/2/4/8-byte integer, little or big endian
            let width = rng.pick([1, 2, 4, 8])
            guard d.count >= width else { return d + [rng.byte()] }
            var value = rng.chance(1, in: 5) ? rng.next() : rng.pick(Self.interestingWords)
            if rng.chance(1, in: 4) { value = value &+ UInt64(bitPattern: Int64(rng.below(5) - 2)) }
            let at = offset(d.count - width + 1)
            let bigEndian = rng.chance(1, in: 2)
            for k in 0..<width {
                let shift = UInt64(8 * (bigEndian ? width - 1 - k : k))
                d[at + k] = UInt8(truncatingIfNeeded: value >> shift)
            }
        default:  // swap two ranges' bytes
            guard d.count >= 2 else { return d }
            let i = rng.below(d.count)
            let j = rng.below(d.count)
            d.swapAt(i, j)
        }
        return d
    }
}

/// Token-level JSON mutations: numbers, strings, structure, nesting.
enum JSONMutator {
    enum Kind { case string, number, literal, punct, space, other }
    struct Token {
        var kind: Kind
        var bytes: [UInt8]
    }

    static let numbers: [String] = [
        "1e999", "-1e999", "-0", "0", "-1", "1", "2", "1e-400", "4.9e-324", "1.7976931348623157e308", "1e308",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "99999999999999999999999999999", "1.5", "0.5", "2.0",
        "NaN", "Infinity", "-Infinity", "nan", "1E+2", "1e2", "0.0", "00", "01", "1.", ".5", "-", "1e", "+1",
        "4096", "4097", "65536", "65537", "10000", "10001", "1000", "1001", "60000", "60001", "100000", "100001",
        "0x10", "1_000", "3.0e0", "-0.0", "1e6", "1000001", "10", "11", "0.001",
    ]
    static let strings: [String] = [
        "", "vae", "ae", "mnist", "fashion-mnist", "F32", "F16", "I64", "__metadata__", "format", "name", "seed",
        "latent_dim", "latnt_dim", "grid", "zip", "runs", "seeds", "base", "studies", "groups", "metrics", "config",
        "vaelab.summary/1", "vaelab.metrics/1", "vaelab.checkpoint/1", "vaelab.study/1", "mean", "std", "n",
        "data_offsets", "shape", "dtype", "epochs", "final", "\\u0000", "\\ud800", "\\udc00", "\\ud83d\\ude00",
        "\\uZZZZ", "\\x", "é", "\u{0301}", "a\\nb", "a\nb", "\\\"", "😀", String(repeating: "x", count: 300),
        "nan", "inf", "-inf", "null",
    ]
    static let values: [String] = [
        "null", "true", "false", "{}", "[]", "[null]", "{\"\":null}", "[[]]", "\"\"", "[1,1]", "[0,0,0]",
        "{\"a\":1,\"a\":2}", "[1,2,3,4,5,6,7,8,9,10]",
    ]

    static func tokenize(_ bytes: [UInt8]) -> [Token] {
        var tokens: [Token] = []
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            let start = i
            let kind: Kind
            switch c {
            case 0x22:  // string, up to the closing quote (escapes skipped)
                i += 1
                while i < bytes.count && bytes[i] != 0x22 { i += bytes[i] == 0x5C ? 2 : 1 }
                i = min(i + 1, bytes.count)
                kind = .string
            case 0x2D, 0x30...0x39:
                i += 1
                while i < bytes.count, "0123456789.eE+-".utf8.contains(bytes[i]) { i += 1 }
                kind = .number
            case 0x61...0x7A:
                while i < bytes.count, (0x61...0x7A).contains(bytes[i]) { i += 1 }
                kind = .literal
            case 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A:
                i += 1
                kind = .punct
            case 0x20, 0x09, 0x0A, 0x0D:
                while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
                kind = .space
            default:
                i += 1
                kind = .other
            }
            tokens.append(Token(kind: kind, bytes: Array(bytes[start..<i])))
        }
        return tokens
    }

    static func mutate(_ input: [UInt8], corpus: [[UInt8]], rng: inout FuzzRNG) -> [UInt8] {
        var tokens = tokenize(input)
        guard !tokens.isEmpty else { return Array(rng.pick(values).utf8) }
        func indices(_ kind: Kind) -> [Int] { tokens.indices.filter { tokens[$0].kind == kind } }
        func quoted(_ s: String) -> [UInt8] { Array("\"\(s)\"".utf8) }
        switch rng.below(12) {
        case 0, 1:  // replace a number
            let ns = indices(.number)
            guard !ns.isEmpty else { break }
            let text =
                rng.chance(1, in: 6)
                ? String(Int64(bitPattern: rng.next()) >> UInt64(rng.below(64))) : rng.pick(numbers)
            tokens[rng.pick(ns)].bytes = Array(text.utf8)
        case 2:  // replace a string (a key or a value) with an interesting one or another string of the input
            let ss = indices(.string)
            guard !ss.isEmpty else { break }
            let target = rng.pick(ss)
            tokens[target].bytes = rng.chance(1, in: 3) ? tokens[rng.pick(ss)].bytes : quoted(rng.pick(strings))
        case 3:  // swap two tokens of the same kind
            let pool = indices(rng.chance(1, in: 2) ? .string : .number)
            guard pool.count >= 2 else { break }
            let a = rng.pick(pool)
            let b = rng.pick(pool)
            tokens.swapAt(a, b)
        case 4:  // drop a structural character
            let ps = indices(.punct)
            guard !ps.isEmpty else { break }
            tokens.remove(at: rng.pick(ps))
        case 5:  // duplicate a structural character
            let ps = indices(.punct)
            guard !ps.isEmpty else { break }
            let i = rng.pick(ps)
            tokens.insert(tokens[i], at: i)
        case 6:  // replace a scalar value with another kind of value
            let vs = tokens.indices.filter { [.number, .literal, .string].contains(tokens[$0].kind) }
            guard !vs.isEmpty else { break }
            tokens[rng.pick(vs)].bytes = Array(rng.pick(values).utf8)
        case 7:  // deep nesting around a value
            let vs = tokens.indices.filter { [.number, .literal, .string].contains(tokens[$0].kind) }
            guard !vs.isEmpty else { break }
            let depth = rng.pick([2, 63, 64, 65, 200, 5000])
            let i = rng.pick(vs)
            let object = rng.chance(1, in: 3)
            let open =
                object ? Array(String(repeating: "{\"k\":", count: depth).utf8) : [UInt8](repeating: 0x5B, count: depth)
            let close = [UInt8](repeating: object ? 0x7D : 0x5D, count: depth)
            tokens[i].bytes = open + tokens[i].bytes + close
        case 8:  // a long array in place of a value (list and run-count limits)
            let vs = tokens.indices.filter { [.number, .literal, .string].contains(tokens[$0].kind) }
            guard !vs.isEmpty else { break }
            let n = rng.pick([3, 101, 1000, 1001, 10_001])
            let element = rng.chance(1, in: 2) ? "0" : rng.pick(["1", "2", "\"vae\"", "null"])
            let text = "[" + (0..<n).map { rng.chance(1, in: 2) ? element : String($0) }.joined(separator: ",") + "]"
            tokens[rng.pick(vs)].bytes = Array(text.utf8)
        case 9:  // duplicate a run of tokens (duplicate keys, repeated members)
            let start = rng.below(tokens.count)
            let n = 1 + rng.below(min(tokens.count - start, 12))
            tokens.insert(contentsOf: tokens[start..<(start + n)], at: start + n)
        case 10:  // splice in a token run from another corpus entry
            let other = tokenize(corpus.isEmpty ? input : rng.pick(corpus))
            guard !other.isEmpty else { break }
            let start = rng.below(other.count)
            let n = 1 + rng.below(min(other.count - start, 40))
            tokens.insert(contentsOf: other[start..<(start + n)], at: rng.below(tokens.count + 1))
        default:  // delete a run of tokens
            let start = rng.below(tokens.count)
            let n = 1 + rng.below(min(tokens.count - start, 6))
            tokens.removeSubrange(start..<(start + n))
        }
        return tokens.flatMap(\.bytes)
    }
}

// MARK: - The loop and its tally

/// What one input did: parsed, or was rejected with a typed error (by category).
enum FuzzOutcome {
    case accepted
    case rejected(String)
}

/// Counts per target, printed as one line.
struct FuzzTally {
    let target: String
    var runs = 0
    var accepted = 0
    var rejected: [String: Int] = [:]
    var slowest = 0.0
    var slowestInput: [UInt8] = []

    var summary: String {
        let kinds = rejected.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let total = rejected.values.reduce(0, +)
        return "fuzz \(target): \(runs) inputs, \(accepted) parsed, \(total) rejected"
            + (kinds.isEmpty ? "" : " (\(kinds))") + String(format: "; slowest input %.1f ms", slowest * 1000)
    }
}

/// A short, reproducible description of an input for failure messages.
func describeInput(_ bytes: [UInt8]) -> String {
    let shown =
        bytes.count <= 2048 ? Data(bytes).base64EncodedString() : Data(bytes.prefix(2048)).base64EncodedString() + "…"
    return "input (\(bytes.count) bytes, base64): \(shown)"
}

/// The category of a typed error: the type and, for enums, the case.
func errorCategory(_ error: any Error) -> String {
    let type = String(describing: Swift.type(of: error))
    let mirror = Mirror(reflecting: error)
    if mirror.displayStyle == .enum {
        if let label = mirror.children.first?.label { return "\(type).\(label)" }
        return "\(type).\(error)"
    }
    return type
}

/// Runs `iterations` mutated inputs (the unmutated corpus first) through `body`.
///
/// `body` returns normally when the input parsed (checking its properties with `#expect`), or
/// throws. `classify` names each thrown error that the API promises (its typed errors) and returns
/// nil for any other error, which fails the test with the input. An input slower than
/// `hangSeconds` fails the test as a hang.
@discardableResult
func runFuzz(
    target: String, corpus: [[UInt8]], json: Bool, iterations: Int = FuzzSettings.iterations,
    mutator: Mutator = Mutator(), hangSeconds: Double = 10,
    classify: (any Error) -> String? = { _ in nil },
    body: ([UInt8]) throws -> Void
) -> FuzzTally {
    var tally = FuzzTally(target: target)
    var rng = FuzzRNG(seed: FuzzSettings.seed, target: target)
    var failures = 0
    precondition(!corpus.isEmpty, "empty corpus for \(target)")
    for i in 0..<(corpus.count + iterations) {
        let input = i < corpus.count ? corpus[i] : mutator.mutate(corpus, json: json, rng: &rng)
        let started = monotonicNow()
        do {
            try body(input)
            tally.accepted += 1
        } catch {
            if let kind = classify(error) {
                tally.rejected[kind, default: 0] += 1
            } else {
                failures += 1
                if failures <= 5 {
                    Issue.record("fuzz \(target): untyped error \(type(of: error)): \(error); \(describeInput(input))")
                }
            }
        }
        let seconds = monotonicNow() - started
        if seconds > tally.slowest {
            tally.slowest = seconds
            tally.slowestInput = input
        }
        if seconds > hangSeconds {
            Issue.record("fuzz \(target): one input took \(seconds) s; \(describeInput(input))")
        }
        tally.runs += 1
    }
    print(tally.summary)
    if tally.slowest > 0.5 { print("fuzz \(target): slowest \(describeInput(tally.slowestInput))") }
    return tally
}

func monotonicNow() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// A scratch directory for the targets that read files, removed by `remove()`.
struct FuzzScratch {
    let path: String
    init(_ name: String) throws {
        path =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("vaelab-fuzz-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Float arrays compared by bit pattern (NaN payloads survive a round trip).
func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}
