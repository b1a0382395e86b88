import Datasets
import Models
import Support

/// One run setting, defined once: its JSON key, type and range, where it lives in `RunConfig`,
/// and how it is labelled. The spec reader, config.json's encoding, the range checks (and
/// their messages, shared by specs and `vaelab train`), the summary labels, the report's axis
/// names and `spec.schema.json` all read `RunField.all`. A new setting is one entry here, its
/// property in `RunConfig`, and its use.
public struct RunField: Sendable {
    /// The JSON key, e.g. "latent_dim".
    public let key: String
    public let type: FieldType
    /// One sentence for the schema and the CLI help.
    public let help: String
    /// How a chart axis names it ("encoder width H").
    public let axisName: String
    let get: @Sendable (RunConfig) -> FieldValue
    /// False if the value does not fit the property (a wrong type, an unknown enum case).
    let set: @Sendable (inout RunConfig, FieldValue) -> Bool
    /// This field's part of a group label, if it has one for this config.
    private(set) var label: @Sendable (RunConfig) -> String?
    /// Its label at its default value, where `label` leaves it out there ("batch 128"): for a
    /// legend that must tell a default from the values beside it (`explicitLabel`).
    private(set) var defaultLabel: @Sendable (RunConfig) -> String? = { _ in nil }
    /// Read by the evaluation only (the NLL bound's k, the k-NN probe's k): its label comes after
    /// the training settings' (`labelOrder`).
    public private(set) var evaluationOnly = false
    /// Read only by models with a posterior (β, the NLL bound's k): an AE trains and evaluates
    /// the same whatever it holds, so it has no label there and tells no two AE runs apart.
    public private(set) var posteriorOnly = false
    /// Left out of config.json (and so of the run id) and of summaries while it holds its
    /// default: how a field added later keeps every earlier run's id. See `addedLater()`.
    public private(set) var omittedAtDefault = false

    /// The same field, left out of the encodings at its default. Every field added after the
    /// first results were committed must be declared so.
    func addedLater() -> RunField {
        var copy = self
        copy.omittedAtDefault = true
        return copy
    }

    /// The same field with another group label (one that depends on other fields).
    func labelled(_ label: @escaping @Sendable (RunConfig) -> String?) -> RunField {
        var copy = self
        copy.label = label
        return copy
    }

    /// Whether config.json and summaries list this field for `config`.
    public func isWritten(for config: RunConfig) -> Bool {
        !omittedAtDefault || get(config) != get(RunConfig())
    }

    /// The same field, read by the evaluation only (`evaluationOnly`).
    func readByEvaluationOnly() -> RunField {
        var copy = self
        copy.evaluationOnly = true
        return copy
    }

    /// The same field, read only by models with a posterior (`posteriorOnly`).
    func readByPosteriorModelsOnly() -> RunField {
        var copy = self
        copy.posteriorOnly = true
        return copy
    }

    /// Whether a run of `config` reads this field: its value changes what the run computes.
    public func isRead(by config: RunConfig) -> Bool { !posteriorOnly || config.model.hasPosterior }

    /// The same field, labelled `text` at its default (`defaultLabel`).
    func labelledAtDefault(_ text: String?) -> RunField { labelledAtDefault { _ in text } }

    /// The same field, labelled `text(config)` at its default (nil where it has no label there).
    func labelledAtDefault(_ text: @escaping @Sendable (RunConfig) -> String?) -> RunField {
        var copy = self
        copy.defaultLabel = text
        return copy
    }

    public func value(of config: RunConfig) -> FieldValue { get(config) }
    /// The field's part of a group label, nil where it has none (β of an AE: `isRead`).
    public func label(of config: RunConfig) -> String? { isRead(by: config) ? label(config) : nil }
    /// The label, or at the default value the default's label ("batch 128" where `label` says
    /// nothing): nil only where the field has no label for this config (β of an AE).
    public func explicitLabel(of config: RunConfig) -> String? {
        guard isRead(by: config) else { return nil }
        return label(config) ?? (get(config) == get(RunConfig()) ? defaultLabel(config) : nil)
    }

    /// Sets the field; false (and `config` unchanged) if the value does not fit it.
    @discardableResult
    public func assign(_ value: FieldValue, to config: inout RunConfig) -> Bool { set(&config, value) }

    /// What the field should have been if its value in `config` is out of range, e.g.
    /// "an integer in 1...4096, got 0".
    public func check(_ config: RunConfig) -> String? { type.check(get(config)) }
}

/// A field's value as JSON sees it.
public enum FieldValue: Hashable, Sendable {
    case integer(Int)
    case unsigned(UInt64)
    case number(Double)
    case text(String)
    case null

    /// The value as a plain number (for chart axes), if it is one.
    public var number: Double? {
        switch self {
        case .integer(let n): return Double(n)
        case .unsigned(let n): return Double(n)
        case .number(let x): return x
        case .text, .null: return nil
        }
    }

    /// The value as JSON writes it: 16, 0.25, 1, "mnist" without quotes, null.
    public var text: String {
        switch self {
        case .integer(let n): return String(n)
        case .unsigned(let n): return String(n)
        case .number(let x): return RunConfig.compact(x)
        case .text(let s): return s
        case .null: return "null"
        }
    }
}

/// The types of run fields: what JSON value each takes and which values are in range.
public enum FieldType: Sendable, Equatable {
    /// An integer in the range.
    case integer(ClosedRange<Int>)
    /// A positive integer, or null for "no limit".
    case positiveOrNull
    /// An integer >= 0 (a 64-bit seed).
    case seed
    /// A finite number in the range; `openBelow` excludes its lower bound.
    case number(ClosedRange<Double>, openBelow: Bool)
    /// One of the strings.
    case choice([String])

    /// The values the type takes: "an integer in 1...4096", "one of "vae", "ae"".
    public var expected: String {
        switch self {
        case .integer(let r): return "an integer in \(r.lowerBound)...\(r.upperBound)"
        case .positiveOrNull: return "a positive integer or null"
        case .seed: return "an integer >= 0"
        case .number: return "a number in \(rangeText)"
        case .choice(let values): return "one of \(Self.quoted(values))"
        }
    }

    /// What was expected, if `value` is out of range.
    public func check(_ value: FieldValue) -> String? {
        switch (self, value) {
        case (.integer(let r), .integer(let n)): return r.contains(n) ? nil : "\(expected), got \(n)"
        case (.positiveOrNull, .integer(let n)): return n >= 1 ? nil : "\(expected), got \(n)"
        case (.number(let r, let open), .number(let x)):
            let inRange = x.isFinite && r.contains(x) && !(open && x == r.lowerBound)
            return inRange ? nil : "\(expected), got \(x)"
        case (.choice(let values), .text(let s)): return values.contains(s) ? nil : "\(expected), got \"\(s)\""
        default: return nil
        }
    }

    /// The value that `text` (as `FieldValue.text` writes it) stands for.
    public func value(fromText text: String) -> FieldValue? {
        switch self {
        case .integer: return Int(text).map(FieldValue.integer)
        case .positiveOrNull: return text == "null" ? .null : Int(text).map(FieldValue.integer)
        case .seed: return UInt64(text).map(FieldValue.unsigned)
        case .number: return Double(text).map(FieldValue.number)
        case .choice: return .text(text)
        }
    }

    /// "0...1e6", "(0, 10]".
    var rangeText: String {
        guard case .number(let r, let open) = self else { return "" }
        let (lo, hi) = (Self.short(r.lowerBound), Self.short(r.upperBound))
        return open ? "(\(lo), \(hi)]" : "\(lo)...\(hi)"
    }

    /// 1e6 for a power of ten from 1e5 up, else the compact form.
    static func short(_ x: Double) -> String {
        var (power, exponent) = (1e5, 5)
        while power < x {
            power *= 10
            exponent += 1
        }
        return power == x ? "1e\(exponent)" : RunConfig.compact(x)
    }

    static func quoted(_ values: [String]) -> String { values.map { "\"\($0)\"" }.joined(separator: ", ") }
}

extension RunField {
    /// Every run field, in the order of config.json's documentation (group labels: `labelOrder`).
    public static let all: [RunField] = [
        choice("model", \.model, help: "The model kind.", label: { $0.model.rawValue }),
        integer(
            "latent_dim", \.latentDim, RunConfig.latentDimRange, help: "Latent dimension d.",
            axis: "latent dimension d", label: { "d=\($0)" }),
        integer(
            "hidden_units", \.hiddenUnits, 1...65536, help: "Hidden units H of the encoder's dense layer.",
            axis: "encoder width H", label: { "H=\($0)" }),
        number(
            "beta", \.beta, 0...1e6, help: "Weight of the KL term (beta-VAE; the AE has none and reads no beta).",
            axis: "β",
            label: { "β=\(RunConfig.compact($0.beta))" }
        ).readByPosteriorModelsOnly(),
        RunField(
            key: "seed", type: .seed, help: "Run seed (all random streams derive from it).", axisName: "seed",
            get: { .unsigned($0.seed) },
            set: { c, v in
                guard case .unsigned(let n) = v else { return false }
                c.seed = n
                return true
            },
            label: { _ in nil }),
        choice(
            "dataset", \.dataset, DatasetName.allCases.map(\.rawValue),
            help: "The dataset: \(DatasetName.allCases.map(\.rawValue).joined(separator: " or ")).",
            label: { $0.dataset == RunConfig().dataset ? nil : $0.dataset }
        ).labelledAtDefault(RunConfig().dataset),
        integer("epochs", \.epochs, 1...10_000, help: "Training epochs.", changed: { "\($0) ep" }),
        integer(
            "batch_size", \.batchSize, 1...60_000, help: "Images per batch.", axis: "batch size",
            changed: { "batch \($0)" }),
        number(
            "learning_rate", \.learningRate, 0...10, openBelow: true, help: "Adam's learning rate.",
            axis: "learning rate",
            label: { $0.learningRate == RunConfig().learningRate ? nil : "lr \($0.learningRate)" }
        ).labelledAtDefault("lr \(RunConfig().learningRate)"),
        limit("train_limit", \.trainLimit, help: "Use only the first N training images.", label: "train"),
        limit("test_limit", \.testLimit, help: "Use only the first N test images.", label: "test"),
        integer(
            "iwae_samples", \.iwaeSamples, 0...100_000,
            help: "Importance samples of the NLL bound (VAE, IWAE; 0 skips it; the AE has no bound)."
        ).labelled(boundLabel).labelledAtDefault("NLL k=\(RunConfig().iwaeSamples)").readByEvaluationOnly()
            .readByPosteriorModelsOnly(),
        integer(
            "knn_neighbors", \.knnNeighbors, 1...1000, help: "Neighbours of the k-NN probe on latent means.",
            changed: { "\($0)-NN" }
        ).readByEvaluationOnly(),
        choice(
            "likelihood", \.likelihood,
            help: "The decoder's pixel likelihood: Bernoulli, or the continuous Bernoulli (a density on [0, 1]).",
            label: { $0.likelihood == .bernoulli ? nil : "cont. Bernoulli" }
        ).addedLater().labelledAtDefault("Bernoulli"),
        integer(
            "train_samples", \.trainSamples, 1...5000,
            help: "Posterior samples per image in a training step: the IWAE's k (model \"iwae\"; 1 otherwise).",
            axis: "IWAE samples k"
        ).labelled { $0.model == .iwae ? "k=\($0.trainSamples)" : nil }.addedLater(),
        choice(
            "binarize", \.binarize,
            help: "Pixels: \"none\" keeps the grey levels; \"dynamic\" draws x ~ Bernoulli(grey) every epoch.",
            label: { $0.binarize == .none ? nil : "binarised" }
        ).addedLater().labelledAtDefault("grey"),
    ]

    /// The fields in the order of group labels: training first, then what only the evaluation
    /// reads ("iwae d=16 H=256 β=1 k=5 binarised NLL k=1000 1-NN").
    public static let labelOrder = all.filter { !$0.evaluationOnly } + all.filter(\.evaluationOnly)

    /// The NLL bound's samples where they differ from the default: "NLL k=1000", or "no NLL"
    /// for 0 (skipped).
    static func boundLabel(_ c: RunConfig) -> String? {
        guard c.iwaeSamples != RunConfig().iwaeSamples else { return nil }
        return c.iwaeSamples == 0 ? "no NLL" : "NLL k=\(c.iwaeSamples)"
    }

    /// The JSON keys, in table order.
    public static var keys: [String] { all.map(\.key) }

    public static func named(_ key: String) -> RunField? { all.first { $0.key == key } }
}

extension RunConfig {
    /// The config with every field its model does not read at the default (an AE's β): two
    /// configs that agree here train and evaluate the same model, with the same numbers.
    public var asRead: RunConfig {
        var copy = self
        for field in RunField.all where !field.isRead(by: self) {
            field.assign(field.value(of: RunConfig()), to: &copy)
        }
        return copy
    }
}

// MARK: - Entry constructors

extension RunField {
    typealias Path<T> = WritableKeyPath<RunConfig, T> & Sendable

    /// An integer field labelled with `label(value)` always, or with `changed(value)` when it
    /// differs from the default.
    static func integer(
        _ key: String, _ path: Path<Int>, _ range: ClosedRange<Int>, help: String, axis: String? = nil,
        label: (@Sendable (Int) -> String)? = nil, changed: (@Sendable (Int) -> String)? = nil
    ) -> RunField {
        RunField(
            key: key, type: .integer(range), help: help, axisName: axis ?? spaced(key),
            get: { .integer($0[keyPath: path]) },
            set: { c, v in
                guard case .integer(let n) = v else { return false }
                c[keyPath: path] = n
                return true
            },
            label: { c in
                let n = c[keyPath: path]
                if let label { return label(n) }
                return n == RunConfig()[keyPath: path] ? nil : changed?(n)
            }
        ).labelledAtDefault(label == nil ? changed?(RunConfig()[keyPath: path]) : nil)
    }

    static func number(
        _ key: String, _ path: Path<Double>, _ range: ClosedRange<Double>, openBelow: Bool = false, help: String,
        axis: String, label: @escaping @Sendable (RunConfig) -> String?
    ) -> RunField {
        RunField(
            key: key, type: .number(range, openBelow: openBelow), help: help, axisName: axis,
            get: { .number($0[keyPath: path]) },
            set: { c, v in
                guard case .number(let x) = v else { return false }
                c[keyPath: path] = x
                return true
            }, label: label)
    }

    /// A "first N images" limit: null (the default) means the whole split.
    static func limit(_ key: String, _ path: Path<Int?>, help: String, label: String) -> RunField {
        RunField(
            key: key, type: .positiveOrNull, help: help, axisName: spaced(key),
            get: { $0[keyPath: path].map(FieldValue.integer) ?? .null },
            set: { c, v in
                switch v {
                case .integer(let n): c[keyPath: path] = n
                case .null: c[keyPath: path] = nil
                default: return false
                }
                return true
            },
            label: { c in c[keyPath: path].map { "\(label) \($0)" } }
        ).labelledAtDefault("\(label) all")
    }

    /// One of an enumeration's cases, by raw value (the model kind, the likelihood).
    static func choice<Value: RawRepresentable & CaseIterable & Sendable>(
        _ key: String, _ path: Path<Value>, help: String, label: @escaping @Sendable (RunConfig) -> String?
    ) -> RunField where Value.RawValue == String {
        RunField(
            key: key, type: .choice(Value.allCases.map(\.rawValue)), help: help, axisName: spaced(key),
            get: { .text($0[keyPath: path].rawValue) },
            set: { c, v in
                guard case .text(let s) = v, let x = Value(rawValue: s) else { return false }
                c[keyPath: path] = x
                return true
            }, label: label)
    }

    /// A string field from a fixed list (checked with the range checks).
    static func choice(
        _ key: String, _ path: Path<String>, _ values: [String], help: String,
        label: @escaping @Sendable (RunConfig) -> String?
    ) -> RunField {
        RunField(
            key: key, type: .choice(values), help: help, axisName: spaced(key),
            get: { .text($0[keyPath: path]) },
            set: { c, v in
                guard case .text(let s) = v else { return false }
                c[keyPath: path] = s
                return true
            }, label: label)
    }

    static func spaced(_ key: String) -> String { key.replacingOccurrences(of: "_", with: " ") }
}
