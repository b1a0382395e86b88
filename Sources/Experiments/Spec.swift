import Datasets
import Foundation
import Models
import NeuralNet
import Support
import Training

/// A spec error: one line naming the file, the JSON path and what was expected.
public struct SpecError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let path: String
    public let message: String
    public init(file: String, path: String, message: String) {
        self.file = file
        self.path = path
        self.message = message
    }
    /// One line: control characters quoted from the input are escaped.
    public var description: String {
        let line = path.isEmpty ? "\(file): \(message)" : "\(file): \(path): \(message)"
        return line.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
    }
}

/// A study spec (`experiments/*.json`):
///
///     { "name": "...", "description": "...",
///       "base": { run fields },                      defaults for every run
///       "grid": { field: [values], ... },            Cartesian product (first key varies slowest)
///       "zip":  { field: [values], ... },            equal-length lists that vary together
///       "runs": [ { run fields }, ... ],             explicit extra points (merged over base)
///       "seeds": [0, 1, 2] }                         every point once per seed; a group = same config but seed
public struct StudySpec: Sendable {
    public var name: String
    public var description: String
    public var file: String
    /// SHA-256 of the spec file's bytes.
    public var sha256: String
    public var runs: [PlannedRun]

    public static let topLevelKeys = ["name", "description", "base", "grid", "zip", "runs", "seeds"]
    /// Limits applied before anything is expanded or allocated.
    public static let maxFileBytes = 1 << 20
    public static let maxRuns = 10_000
    public static let maxListLength = 1_000
}

/// One run of a study: its config and where in the spec it came from.
public struct PlannedRun: Sendable, Hashable {
    public var config: RunConfig
    /// "grid[3]", "runs[1]", ... with the seed: for messages and the plan.
    public var origin: String
}

public enum SpecParser {
    /// Reads, parses, validates and expands a spec file. Nothing is written.
    public static func load(path: String) throws -> StudySpec {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw SpecError(file: path, path: "", message: "cannot read the file (does it exist?)")
        }
        if let size = attributes[.size] as? Int, size > StudySpec.maxFileBytes {
            throw SpecError(
                file: path, path: "",
                message: "the file is \(size) bytes; specs are limited to \(StudySpec.maxFileBytes) bytes")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SpecError(file: path, path: "", message: "cannot read the file")
        }
        return try parse([UInt8](data), file: path)
    }

    public static func parse(_ bytes: [UInt8], file: String) throws -> StudySpec {
        guard bytes.count <= StudySpec.maxFileBytes else {
            throw SpecError(
                file: file, path: "",
                message: "the file is \(bytes.count) bytes; specs are limited to \(StudySpec.maxFileBytes) bytes")
        }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw SpecError(file: file, path: "", message: "not valid UTF-8")
        }
        let root: JSONValue
        do {
            var parser = JSONParser(bytes: bytes)
            root = try parser.parseDocument()
        } catch let error as JSONParseError {
            let (line, column) = position(of: error.offset, in: bytes)
            throw SpecError(
                file: file, path: "", message: "malformed JSON at line \(line), column \(column): \(error.message)")
        }
        var reader = Reader(file: file)
        let spec = try reader.study(root)
        return StudySpec(
            name: spec.name, description: spec.description, file: file, sha256: sha256Hex(bytes), runs: spec.runs)
    }

    static func position(of offset: Int, in bytes: [UInt8]) -> (Int, Int) {
        var line = 1
        var column = 1
        for b in bytes.prefix(offset) {
            if b == 0x0A {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}

/// Walks the JSON tree with the current path, turning every problem into a `SpecError`.
struct Reader {
    let file: String

    func fail(_ path: String, _ message: String) -> SpecError { SpecError(file: file, path: path, message: message) }

    func object(_ v: JSONValue, _ path: String) throws -> [(String, JSONValue)] {
        guard case .object(let members) = v else { throw fail(path, "expected an object, got \(v.typeName)") }
        var seen = Set<String>()
        for (k, _) in members where !seen.insert(k).inserted {
            throw fail(path, "duplicate key \"\(k)\"")
        }
        return members
    }

    func array(_ v: JSONValue, _ path: String) throws -> [JSONValue] {
        guard case .array(let items) = v else { throw fail(path, "expected an array, got \(v.typeName)") }
        guard items.count <= StudySpec.maxListLength else {
            throw fail(path, "expected at most \(StudySpec.maxListLength) values, got \(items.count)")
        }
        return items
    }

    func string(_ v: JSONValue, _ path: String) throws -> String {
        guard case .string(let s) = v else { throw fail(path, "expected a string, got \(v.typeName)") }
        return s
    }

    func unknownKey(_ key: String, _ path: String, allowed: [String]) -> SpecError {
        var message = "unknown key \"\(key)\""
        if let guess = closest(key, in: allowed) { message += " (did you mean \"\(guess)\"?)" }
        message += "; expected one of: \(allowed.joined(separator: ", "))"
        return fail(path.isEmpty ? key : "\(path).\(key)", message)
    }

    /// Sets the run field `key` of `config` from a JSON value, checking type and range.
    func apply(_ key: String, _ v: JSONValue, to config: inout RunConfig, path: String) throws {
        guard let field = RunField.named(key) else {
            throw unknownKey(key, String(path.dropLast(key.count + 1)), allowed: RunConfig.fieldNames)
        }
        field.assign(try value(v, of: field.type, path), to: &config)
        if let expected = field.check(config) { throw fail(path, "expected \(expected)") }
    }

    /// `v` as a value of a field of `type`, or the error saying what was expected.
    func value(_ v: JSONValue, of type: FieldType, _ path: String) throws -> FieldValue {
        switch type {
        case .integer: return .integer(try integer(v, path, nullable: false)!)
        case .positiveOrNull: return try integer(v, path, nullable: true).map(FieldValue.integer) ?? .null
        case .seed:
            let n = try integer(v, path, nullable: false)!
            guard n >= 0 else { throw fail(path, "expected an integer >= 0, got \(n)") }
            return .unsigned(UInt64(n))
        case .number:
            guard case .number(let text, _) = v, let x = Double(text), x.isFinite else {
                throw fail(path, "expected a number, got \(describe(v))")
            }
            return .number(x)
        case .choice:
            let s = try string(v, path)
            if let expected = type.check(.text(s)) { throw fail(path, "expected \(expected)") }
            return .text(s)
        }
    }

    /// An integer (nil for null where that is allowed).
    func integer(_ v: JSONValue, _ path: String, nullable: Bool) throws -> Int? {
        if case .null = v, nullable { return nil }
        guard case .number(let text, let isInteger) = v, isInteger, let n = Int(text) else {
            let what = nullable ? "an integer or null" : "an integer"
            if case .number(let text, _) = v { throw fail(path, "expected \(what), got \(text)") }
            throw fail(path, "expected \(what), got \(describe(v))")
        }
        return n
    }

    func describe(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return "\"\(s.count > 40 ? String(s.prefix(40)) + "..." : s)\""
        case .number(let t, _): return t
        case .bool(let b): return "\(b)"
        case .null: return "null"
        default: return v.typeName
        }
    }

    mutating func study(_ root: JSONValue) throws -> (name: String, description: String, runs: [PlannedRun]) {
        let members = try object(root, "")
        var fields: [String: JSONValue] = [:]
        for (key, value) in members {
            guard StudySpec.topLevelKeys.contains(key) else {
                throw unknownKey(key, "", allowed: StudySpec.topLevelKeys)
            }
            fields[key] = value
        }
        guard let nameValue = fields["name"] else { throw fail("name", "missing: every spec needs a \"name\"") }
        let name = try string(nameValue, "name")
        guard !name.isEmpty, name.count <= 100,
            name.unicodeScalars.allSatisfy({
                CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" || $0 == "."
            }),
            name.unicodeScalars.allSatisfy({ $0.isASCII })
        else { throw fail("name", "expected 1-100 ASCII letters, digits, '-', '_' or '.', got \"\(name)\"") }
        let description = try fields["description"].map { try string($0, "description") } ?? ""

        var base = RunConfig()
        if let b = fields["base"] {
            for (key, value) in try object(b, "base") { try apply(key, value, to: &base, path: "base.\(key)") }
        }

        // grid: Cartesian product in key order.
        var gridAxes: [(String, [JSONValue])] = []
        if let g = fields["grid"] {
            for (key, value) in try object(g, "grid") {
                guard RunConfig.fieldNames.contains(key) else {
                    throw unknownKey(key, "grid", allowed: RunConfig.fieldNames)
                }
                let values = try array(value, "grid.\(key)")
                guard !values.isEmpty else { throw fail("grid.\(key)", "expected a non-empty array of values") }
                for (i, v) in values.enumerated() {
                    var probe = base
                    try apply(key, v, to: &probe, path: "grid.\(key)[\(i)]")
                }
                gridAxes.append((key, values))
            }
            guard !gridAxes.isEmpty else {
                throw fail("grid", "expected at least one field to vary (the grid is empty)")
            }
        }
        // zip: equal-length lists.
        var zipAxes: [(String, [JSONValue])] = []
        if let z = fields["zip"] {
            for (key, value) in try object(z, "zip") {
                guard RunConfig.fieldNames.contains(key) else {
                    throw unknownKey(key, "zip", allowed: RunConfig.fieldNames)
                }
                if gridAxes.contains(where: { $0.0 == key }) {
                    throw fail("zip.\(key)", "\"\(key)\" is already varied by the grid")
                }
                let values = try array(value, "zip.\(key)")
                guard !values.isEmpty else { throw fail("zip.\(key)", "expected a non-empty array of values") }
                if let first = zipAxes.first, first.1.count != values.count {
                    throw fail(
                        "zip.\(key)", "expected \(first.1.count) values like zip.\(first.0), got \(values.count)")
                }
                for (i, v) in values.enumerated() {
                    var probe = base
                    try apply(key, v, to: &probe, path: "zip.\(key)[\(i)]")
                }
                zipAxes.append((key, values))
            }
            guard !zipAxes.isEmpty else { throw fail("zip", "expected at least one field (zip is empty)") }
        }
        var seeds: [UInt64]?
        if let s = fields["seeds"] {
            let values = try array(s, "seeds")
            guard !values.isEmpty else { throw fail("seeds", "expected a non-empty array of integers >= 0") }
            if gridAxes.contains(where: { $0.0 == "seed" }) || zipAxes.contains(where: { $0.0 == "seed" }) {
                throw fail("seeds", "seeds are already varied by grid or zip; give them in one place")
            }
            seeds = try values.enumerated().map { i, v in
                var probe = base
                try apply("seed", v, to: &probe, path: "seeds[\(i)]")
                return probe.seed
            }
            if Set(seeds!).count != seeds!.count { throw fail("seeds", "expected distinct seeds, got duplicates") }
        }

        // Size check before expanding anything.
        let gridCount = gridAxes.reduce(1) {
            $0.multipliedReportingOverflow(by: $1.1.count).overflow ? Int.max : $0 * $1.1.count
        }
        let zipCount = zipAxes.first?.1.count ?? 1
        var explicit: [JSONValue] = []
        if let r = fields["runs"] { explicit = try array(r, "runs") }
        let points =
            (fields["grid"] == nil && fields["zip"] == nil && !explicit.isEmpty)
            ? 0 : gridCount.multipliedReportingOverflow(by: zipCount).partialValue
        let total = (points + explicit.count).multipliedReportingOverflow(by: seeds?.count ?? 1)
        if total.overflow || total.partialValue > StudySpec.maxRuns || gridCount == Int.max {
            throw fail("", "the spec expands to more than \(StudySpec.maxRuns) runs")
        }

        var planned: [PlannedRun] = []
        func addSeeded(_ config: RunConfig, _ origin: String, explicitSeed: Bool) {
            if let seeds, !explicitSeed {
                for s in seeds {
                    var c = config
                    c.seed = s
                    planned.append(PlannedRun(config: c, origin: "\(origin), seed \(s)"))
                }
            } else {
                planned.append(PlannedRun(config: config, origin: origin))
            }
        }
        if points > 0 {
            var index = 0
            var counters = [Int](repeating: 0, count: gridAxes.count)
            for _ in 0..<gridCount {
                var c = base
                for (axis, (key, values)) in gridAxes.enumerated() {
                    try apply(key, values[counters[axis]], to: &c, path: "grid.\(key)[\(counters[axis])]")
                }
                for row in 0..<zipCount {
                    var z = c
                    for (key, values) in zipAxes { try apply(key, values[row], to: &z, path: "zip.\(key)[\(row)]") }
                    let origin = fields["grid"] == nil && fields["zip"] == nil ? "base" : "point \(index)"
                    addSeeded(z, origin, explicitSeed: false)
                    index += 1
                }
                var axis = gridAxes.count - 1
                while axis >= 0 {
                    counters[axis] += 1
                    if counters[axis] < gridAxes[axis].1.count { break }
                    counters[axis] = 0
                    axis -= 1
                }
            }
        }
        for (i, r) in explicit.enumerated() {
            var c = base
            var hasSeed = false
            for (key, value) in try object(r, "runs[\(i)]") {
                try apply(key, value, to: &c, path: "runs[\(i)].\(key)")
                if key == "seed" { hasSeed = true }
            }
            addSeeded(c, "runs[\(i)]", explicitSeed: hasSeed)
        }
        guard !planned.isEmpty else { throw fail("", "the spec describes no runs") }

        var firstOrigin: [RunConfig: String] = [:]
        for p in planned {
            if let other = firstOrigin[p.config] {
                throw fail("", "duplicate run: \(p.origin) has the same config as \(other)")
            }
            firstOrigin[p.config] = p.origin
        }
        return (name, description, planned)
    }
}

/// The candidate with the smallest edit distance, if it is close enough to be a likely typo.
func closest(_ word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
    let w = Array(word.lowercased())
    let scored = candidates.map { ($0, distance(w, Array($0))) }.sorted { $0.1 < $1.1 }
    guard let best = scored.first, best.1 <= max(2, w.count / 3) else { return nil }
    return best.0
}
