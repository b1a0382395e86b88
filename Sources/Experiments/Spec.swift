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
        let spec = try Reader(file: file).study(root)
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

    typealias Axis = (key: String, values: [JSONValue])

    func study(_ root: JSONValue) throws -> (name: String, description: String, runs: [PlannedRun]) {
        var fields: [String: JSONValue] = [:]
        for (key, value) in try object(root, "") {
            guard StudySpec.topLevelKeys.contains(key) else {
                throw unknownKey(key, "", allowed: StudySpec.topLevelKeys)
            }
            fields[key] = value
        }
        let name = try studyName(fields["name"])
        let description = try fields["description"].map { try string($0, "description") } ?? ""
        var base = RunConfig()
        if let b = fields["base"] {
            for (key, value) in try object(b, "base") { try apply(key, value, to: &base, path: "base.\(key)") }
        }
        let grid = try fields["grid"].map { try gridAxes($0, base: base) } ?? []
        let zip = try fields["zip"].map { try zipAxes($0, base: base, grid: grid) } ?? []
        let seeds = try fields["seeds"].map { try seedList($0, base: base, varied: grid + zip) }
        let explicit = try fields["runs"].map { try array($0, "runs") } ?? []
        let hasPoints = fields["grid"] != nil || fields["zip"] != nil || explicit.isEmpty
        let runs = try expand(
            base: base, grid: grid, zip: zip, points: hasPoints, explicit: explicit, seeds: seeds,
            named: fields["grid"] != nil || fields["zip"] != nil)
        return (name, description, runs)
    }

    func studyName(_ value: JSONValue?) throws -> String {
        guard let value else { throw fail("name", "missing: every spec needs a \"name\"") }
        let name = try string(value, "name")
        let allowed = name.unicodeScalars.allSatisfy {
            $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" || $0 == ".")
        }
        // The name is a file name (results/studies/<name>.json): no "..", no hidden or option-like names.
        let plain = name.first.map { $0.isASCII && ($0.isLetter || $0.isNumber) } ?? false
        guard !name.isEmpty, name.count <= 100, allowed, plain else {
            throw fail(
                "name",
                "expected 1-100 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit, got \"\(name)\""
            )
        }
        return name
    }

    /// `grid`: fields and their values, in key order (the first varies slowest).
    func gridAxes(_ value: JSONValue, base: RunConfig) throws -> [Axis] {
        let axes = try object(value, "grid").map { key, values in try axis(key, values, "grid", base: base) }
        guard !axes.isEmpty else { throw fail("grid", "expected at least one field to vary (the grid is empty)") }
        return axes
    }

    /// `zip`: equal-length lists of fields the grid does not vary.
    func zipAxes(_ value: JSONValue, base: RunConfig, grid: [Axis]) throws -> [Axis] {
        var axes: [Axis] = []
        for (key, values) in try object(value, "zip") {
            if RunField.named(key) != nil, grid.contains(where: { $0.key == key }) {
                throw fail("zip.\(key)", "\"\(key)\" is already varied by the grid")
            }
            axes.append(try axis(key, values, "zip", base: base, sameLengthAs: axes.first))
        }
        guard !axes.isEmpty else { throw fail("zip", "expected at least one field (zip is empty)") }
        return axes
    }

    /// One varied field of `section`: a known key with a non-empty list of valid values (as many
    /// as `other`'s, for zip).
    func axis(_ key: String, _ value: JSONValue, _ section: String, base: RunConfig, sameLengthAs other: Axis? = nil)
        throws -> Axis
    {
        guard RunConfig.fieldNames.contains(key) else {
            throw unknownKey(key, section, allowed: RunConfig.fieldNames)
        }
        let values = try array(value, "\(section).\(key)")
        guard !values.isEmpty else { throw fail("\(section).\(key)", "expected a non-empty array of values") }
        if let other, other.values.count != values.count {
            throw fail(
                "\(section).\(key)",
                "expected \(other.values.count) values like \(section).\(other.key), got \(values.count)")
        }
        for (i, v) in values.enumerated() {
            var probe = base
            try apply(key, v, to: &probe, path: "\(section).\(key)[\(i)]")
        }
        return (key, values)
    }

    /// `seeds`: distinct seeds that grid and zip do not also vary.
    func seedList(_ value: JSONValue, base: RunConfig, varied: [Axis]) throws -> [UInt64] {
        let values = try array(value, "seeds")
        guard !values.isEmpty else { throw fail("seeds", "expected a non-empty array of integers >= 0") }
        if varied.contains(where: { $0.key == "seed" }) {
            throw fail("seeds", "seeds are already varied by grid or zip; give them in one place")
        }
        let seeds = try values.enumerated().map { i, v in
            var probe = base
            try apply("seed", v, to: &probe, path: "seeds[\(i)]")
            return probe.seed
        }
        var seen: [UInt64: Int] = [:]
        for (i, s) in seeds.enumerated() {
            if let first = seen[s] {
                throw fail("seeds[\(i)]", "expected distinct seeds, got \(s) again (seeds[\(first)])")
            }
            seen[s] = i
        }
        return seeds
    }

    /// Every run: the grid × zip points (or the base alone), then the explicit runs, each once
    /// per seed unless it sets its own. The size is checked before anything is expanded.
    func expand(
        base: RunConfig, grid: [Axis], zip: [Axis], points hasPoints: Bool, explicit: [JSONValue], seeds: [UInt64]?,
        named: Bool
    ) throws -> [PlannedRun] {
        let gridCount = grid.reduce(1) {
            $0.multipliedReportingOverflow(by: $1.values.count).overflow ? Int.max : $0 * $1.values.count
        }
        let zipCount = zip.first?.values.count ?? 1
        let points = hasPoints ? gridCount.multipliedReportingOverflow(by: zipCount).partialValue : 0
        let total = (points + explicit.count).multipliedReportingOverflow(by: seeds?.count ?? 1)
        if total.overflow || total.partialValue > StudySpec.maxRuns || gridCount == Int.max {
            throw fail("", "the spec expands to more than \(StudySpec.maxRuns) runs")
        }
        var planned: [PlannedRun] = []
        func add(_ config: RunConfig, _ origin: String, ownSeed: Bool) {
            guard let seeds, !ownSeed else { return planned.append(PlannedRun(config: config, origin: origin)) }
            for s in seeds {
                var c = config
                c.seed = s
                planned.append(PlannedRun(config: c, origin: "\(origin), seed \(s)"))
            }
        }
        if points > 0 {
            for (index, config) in try gridPoints(base: base, grid: grid, zip: zip).enumerated() {
                add(config, named ? "point \(index)" : "base", ownSeed: false)
            }
        }
        for (i, r) in explicit.enumerated() {
            var c = base
            let members = try object(r, "runs[\(i)]")
            for (key, value) in members { try apply(key, value, to: &c, path: "runs[\(i)].\(key)") }
            add(c, "runs[\(i)]", ownSeed: members.contains { $0.0 == "seed" })
        }
        guard !planned.isEmpty else { throw fail("", "the spec describes no runs") }
        try checkDistinct(planned)
        return planned
    }

    /// The Cartesian product of the grid (first axis slowest), each point crossed with the zip rows.
    func gridPoints(base: RunConfig, grid: [Axis], zip: [Axis]) throws -> [RunConfig] {
        var out: [RunConfig] = []
        var counters = [Int](repeating: 0, count: grid.count)
        let gridCount = grid.reduce(1) { $0 * $1.values.count }
        for _ in 0..<gridCount {
            var c = base
            for (axis, (key, values)) in grid.enumerated() {
                try apply(key, values[counters[axis]], to: &c, path: "grid.\(key)[\(counters[axis])]")
            }
            for row in 0..<(zip.first?.values.count ?? 1) {
                var z = c
                for (key, values) in zip { try apply(key, values[row], to: &z, path: "zip.\(key)[\(row)]") }
                out.append(z)
            }
            var axis = grid.count - 1
            while axis >= 0 {
                counters[axis] += 1
                if counters[axis] < grid[axis].values.count { break }
                counters[axis] = 0
                axis -= 1
            }
        }
        return out
    }

    /// Every run's fields go together, and no two runs compute the same: neither the same config
    /// nor configs that differ only in fields their model does not read (`RunConfig.asRead`).
    func checkDistinct(_ planned: [PlannedRun]) throws {
        var first: [RunConfig: PlannedRun] = [:]
        for p in planned {
            if let (field, expected) = p.config.combinationProblem() {
                throw fail("", "\(p.origin): \(field): expected \(expected)")
            }
            let key = p.config.asRead
            if let other = first[key] {
                guard other.config != p.config else {
                    throw fail(
                        "",
                        "duplicate run: \(p.origin) has the same config as \(other.origin) (\(Summary.label(p.config)))"
                    )
                }
                let differing = RunField.all.filter { $0.value(of: p.config) != $0.value(of: other.config) }
                throw fail(
                    "",
                    """
                    duplicate run: \(p.origin) trains the same model as \(other.origin): model \
                    "\(p.config.model.rawValue)" does not read \(differing.map(\.key).joined(separator: " or ")) (vary it \
                    for the other models only, e.g. in "runs")
                    """)
            }
            first[key] = p
        }
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
