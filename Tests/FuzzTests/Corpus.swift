import Datasets
import Figures
import Foundation
import NeuralNet
import Training

/// The valid inputs every target starts from: files of the repository where they exist (specs,
/// the summary, a run's metrics, MNIST labels) and inputs built in code with the project's own
/// writers (safetensors, PNG, IDX, gzip). Also written out as libFuzzer seed corpora
/// (`SeedCorpusExport`).
enum Corpus {
    // MARK: Specs and JSON

    /// The shipped study specs (not the JSON Schema), plus specs that use every feature.
    static let specs: [[UInt8]] = {
        var out: [[UInt8]] = []
        let dir = FuzzSettings.repoRoot.appendingPathComponent("experiments").path
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
            $0.hasSuffix(".json") && $0 != "spec.schema.json"
        }.sorted()
        for name in names { if let bytes = FuzzSettings.repoFile("experiments/\(name)") { out.append(bytes) } }
        out += inlineSpecs.map { Array($0.utf8) }
        return out
    }()

    static let inlineSpecs = [
        #"{"name":"zip-and-runs","base":{"epochs":1,"hidden_units":8},"zip":{"latent_dim":[2,4],"beta":[0.5,1.0]},"#
            + #""runs":[{"model":"ae","seed":3},{"latent_dim":8,"train_limit":100,"test_limit":null}],"seeds":[0,1]}"#,
        #"{"name":"x.y_z-1","description":"every field \u00e9\n","base":{"model":"vae","latent_dim":3,"#
            + #""hidden_units":8,"beta":0.5,"seed":2,"dataset":"fashion-mnist","epochs":3,"batch_size":16,"#
            + #""learning_rate":0.01,"train_limit":64,"test_limit":32,"iwae_samples":0,"knn_neighbors":3}}"#,
        #"{"name":"g","grid":{"model":["vae","ae"],"latent_dim":[1,2,4096],"learning_rate":[10,1e-9]},"#
            + #""runs":[{"beta":0},{"beta":1e6}]}"#,
        #"{"name":"r","runs":[{"seed":0},{"seed":1},{"seed":9223372036854775807}]}"#,
    ]

    /// Everything JSON the project reads: specs, the schema, the summary, a run's files.
    static let json: [[UInt8]] = {
        var out = specs
        for file in ["experiments/spec.schema.json", "results/summary.json"] {
            if let bytes = FuzzSettings.repoFile(file) { out.append(bytes) }
        }
        if let run = RunFiles.committed {
            out += [run.metrics, run.config] + (run.timing.map { [$0] } ?? [])
        }
        out += [
            #"{"a":[1,-0,0.5e-3,1E+2,"\"\\\/\b\f\n\r\t\u0041\ud83d\ude00"],"b":{"c":null,"d":true,"e":false}}"#,
            "[]", "{}", "0", "\"\"", " [ 1 , [ 2 , [ 3 ] ] ] ",
        ].map { Array($0.utf8) }
        out.append(Array(SafeTensorsCorpus.headers.first ?? []))
        return out
    }()

    /// `results/summary.json` and small summaries in the shape `Summary` writes.
    static let summaries: [[UInt8]] = {
        var out: [[UInt8]] = []
        if let bytes = FuzzSettings.repoFile("results/summary.json") { out.append(bytes) }
        out.append(Array(smallSummary.utf8))
        out.append(Array(#"{"format":"vaelab.summary/1","units":"u","studies":[]}"#.utf8))
        return out
    }()

    static let smallSummary = #"""
        {"format":"vaelab.summary/1","units":"losses","studies":[{"name":"s","description":"d",\#
        "spec_file":"experiments/s.json","spec_sha256":"00",
        "groups":[{"label":"vae d=2","config":{"model":"vae","latent_dim":"2"},"seeds":[0,1],"run_ids":["a","b"],\#
        "done":2,"missing":0,"failed":0,
        "metrics":{"test_total":{"mean":140.5,"std":0.25,"n":2},"knn_accuracy":{"mean":0.9,"std":null,"n":1}}},
        {"label":"vae d=2","config":{"model":"vae","latent_dim":"16"},"seeds":[0],"run_ids":["c"],\#
        "done":1,"missing":0,"failed":0,
        "metrics":{"test_total":{"mean":-3,"std":0,"n":1}}}]},
        {"name":"t","description":"","spec_file":"t.json","spec_sha256":"","groups":[]}]}
        """#

    /// A study record (`results/studies/<name>.json`) as `vaelab run` writes it.
    static let studyRecord = #"""
        {"description":"d","format":"vaelab.study/1","name":"s","runs":[{"config":{"batch_size":64,"beta":1,\#
        "dataset":"mnist","epochs":2,
        "hidden_units":16,"iwae_samples":5,"knn_neighbors":5,"latent_dim":2,"learning_rate":0.001,"model":"vae",\#
        "seed":0,"test_limit":256,
        "train_limit":512},"id":"vae-mnist-d2-h16-b1-s0-00000000","origin":"point 0, seed 0"}],\#
        "spec_file":"experiments/s.json","spec_sha256":"00"}
        """#

    // MARK: Datasets

    /// An IDX file: big-endian magic and dimensions, then the payload.
    static func idx(magic: UInt32, dimensions: [UInt32], payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for word in [magic] + dimensions {
            out += [UInt8(word >> 24), UInt8((word >> 16) & 0xFF), UInt8((word >> 8) & 0xFF), UInt8(word & 0xFF)]
        }
        return out + payload
    }

    /// The committed MNIST test labels, gzipped, as they are on disk.
    static let mnistLabelsGzip: [UInt8]? = FuzzSettings.repoFile("data/mnist/t10k-labels-idx1-ubyte.gz")

    static let idxFiles: [[UInt8]] = {
        var out: [[UInt8]] = [
            idx(magic: IDXMagic.labels, dimensions: [20], payload: (0..<20).map { UInt8($0 % 10) }),
            idx(magic: IDXMagic.labels, dimensions: [0], payload: []),
            idx(magic: IDXMagic.images, dimensions: [2, 3, 4], payload: (0..<24).map { UInt8($0 * 11 % 256) }),
            idx(magic: IDXMagic.images, dimensions: [1, 28, 28], payload: (0..<784).map { UInt8($0 % 256) }),
        ]
        // The first 64 labels of the real file, with the count patched to match.
        if let gz = mnistLabelsGzip, let raw = try? gunzipIfNeeded(gz, path: "t10k-labels"), raw.count >= 8 + 64 {
            out.append(idx(magic: IDXMagic.labels, dimensions: [64], payload: Array(raw[8..<(8 + 64)])))
        }
        return out
    }()

    static let gzipFiles: [[UInt8]] = {
        var out: [[UInt8]] = []
        if let gz = mnistLabelsGzip { out.append(gz) }
        for (i, file) in idxFiles.enumerated() {
            if let z = try? gzipCompress(file, level: Int32([0, 1, 6, 9][i % 4])) { out.append(z) }
        }
        if let a = try? gzipCompress(idxFiles[0]), let b = try? gzipCompress([]) {
            out.append(a + b)  // two members
            out.append(b)
        }
        out.append(idxFiles[2])  // plain files pass through
        return out
    }()
}

/// The committed files of one finished run (`results/runs/<id>/`), if any is there.
struct RunFiles {
    var id: String
    var config: [UInt8]
    var metrics: [UInt8]
    var timing: [UInt8]?

    /// The first finished run (by id) whose files decode and verify: a tree being trained or
    /// edited while the tests run may hold others.
    static let committed: RunFiles? = {
        let dir = FuzzSettings.repoRoot.appendingPathComponent("results/runs").path
        for id in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
            guard let config = FuzzSettings.repoFile("results/runs/\(id)/config.json"),
                let metrics = FuzzSettings.repoFile("results/runs/\(id)/metrics.json"),
                let timing = FuzzSettings.repoFile("results/runs/\(id)/timing.json"),
                let runConfig = try? JSONDecoder().decode(RunConfig.self, from: Data(config)),
                let runMetrics = try? JSONDecoder().decode(RunMetrics.self, from: Data(metrics)),
                (try? JSONDecoder().decode(RunTiming.self, from: Data(timing))) != nil,
                case .success = RunDirectory(dir + "/" + id).verifyMetrics(
                    config: runConfig, dataFingerprint: runMetrics.dataFingerprint)
            else { continue }
            return RunFiles(id: id, config: config, metrics: metrics, timing: timing)
        }
        return nil
    }()
}

// MARK: - safetensors

enum SafeTensorsCorpus {
    static let tensorSets: [(tensors: [NamedTensor], metadata: [String: String])] = [
        ([], [:]),
        ([NamedTensor(name: "w", shape: [2, 3], values: [1, -2, 3.5, 0, .infinity, -0.0])], [:]),
        (
            [
                NamedTensor(name: "scalar", shape: [], values: [42]),
                NamedTensor(name: "empty", shape: [0, 5], values: []),
                NamedTensor(name: "b", shape: [4], values: [1, 2, 3, 4]),
            ],
            ["format": "vaelab.model/1", "config_hash": "abc"]
        ),
        (
            [
                NamedTensor(name: "enc.conv1.weight", shape: [2, 1, 3, 3], values: (0..<18).map { Float($0) / 7 }),
                NamedTensor(name: "naïve \"name\"\n", shape: [1, 1, 1], values: [.nan]),
            ],
            ["records": #"[{"epoch":1}]"#, "": "empty key", "ü": "\u{1}"]
        ),
    ]

    static let files: [[UInt8]] = tensorSets.compactMap { try? SafeTensors.encode($0.tensors, metadata: $0.metadata) }

    /// Sets the length prefix to end the header where its top-level JSON object closes (so that
    /// JSON-level mutations of the header reach the entry validation).
    static func fixHeaderLength(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count > 8 else { return bytes }
        var depth = 0
        var inString = false
        var escaped = false
        for i in 8..<bytes.count {
            let c = bytes[i]
            if inString {
                if escaped {
                    escaped = false
                } else if c == 0x5C {
                    escaped = true
                } else if c == 0x22 {
                    inString = false
                }
                continue
            }
            switch c {
            case 0x22: inString = true
            case 0x7B, 0x5B: depth += 1
            case 0x7D, 0x5D:
                depth -= 1
                if depth == 0 {
                    var out = bytes
                    var n = UInt64(i + 1 - 8)
                    for k in 0..<8 {
                        out[k] = UInt8(n & 0xFF)
                        n >>= 8
                    }
                    return out
                }
            default: break
            }
        }
        return bytes
    }

    /// The JSON headers of `files`, for the JSON corpus.
    static let headers: [[UInt8]] = files.compactMap { bytes in
        guard bytes.count >= 8 else { return nil }
        var n = 0
        for k in (0..<8).reversed() { n = n << 8 | Int(bytes[k]) }
        return n <= bytes.count - 8 ? Array(bytes[8..<(8 + n)]) : nil
    }
}

// MARK: - PNG

enum PNGCorpus {
    /// Images written by the project's encoder (8-bit gray, RGB, RGBA, text chunks).
    static let encoded: [[UInt8]] = [
        PNGImage(width: 3, height: 2, channels: 1, pixels: [0, 50, 100, 150, 200, 255]),
        PNGImage(
            width: 4, height: 4, channels: 3, pixels: (0..<48).map { UInt8($0 * 5) },
            text: ["vaelab.run_id": "vae-x", "Title": "β ü"]),
        PNGImage(width: 2, height: 3, channels: 4, pixels: (0..<24).map { UInt8(255 - $0) }),
        PNGImage(width: 1, height: 1, channels: 1, pixels: [7], text: ["k": ""]),
    ].compactMap { try? PNG.encode($0) }

    /// Hand-made PNGs for the decoder's conversions: palette with transparency, 1-bit and 16-bit
    /// gray, gray + alpha, 16-bit RGB, interlaced.
    static let crafted: [[UInt8]] = [
        craft(
            width: 4, height: 2, bitDepth: 8, colorType: 3, rows: [[0, 1, 2, 1], [2, 1, 0, 0]],
            extra: [("PLTE", [255, 0, 0, 0, 255, 0, 0, 0, 255]), ("tRNS", [128, 255])]),
        craft(width: 9, height: 2, bitDepth: 1, colorType: 0, rows: [[0b1010_1010, 0b1000_0000], [0xFF, 0]]),
        craft(width: 2, height: 2, bitDepth: 16, colorType: 0, rows: [[0x12, 0x34, 0xFF, 0xFF], [0, 0, 0x80, 0]]),
        craft(width: 2, height: 1, bitDepth: 8, colorType: 4, rows: [[10, 255, 20, 0]]),
        craft(width: 1, height: 2, bitDepth: 16, colorType: 2, rows: [[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]]),
        craft(width: 1, height: 1, bitDepth: 8, colorType: 2, rows: [[9, 8, 7]], interlace: 1),
        craft(width: 3, height: 1, bitDepth: 2, colorType: 0, rows: [[0b0001_1011]], extra: [("tRNS", [0, 1])]),
    ]

    static let all: [[UInt8]] = encoded + crafted

    /// A PNG from raw scanlines (filter 0), zlib with stored blocks, correct CRCs.
    static func craft(
        width: UInt32, height: UInt32, bitDepth: UInt8, colorType: UInt8, rows: [[UInt8]],
        extra: [(String, [UInt8])] = [], interlace: UInt8 = 0
    ) -> [UInt8] {
        var ihdr = bigEndian(width) + bigEndian(height)
        ihdr += [bitDepth, colorType, 0, 0, interlace]
        let raw: [UInt8] = rows.flatMap { row -> [UInt8] in [0] + row }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        out += chunk("IHDR", ihdr)
        for (type, data) in extra { out += chunk(type, data) }
        out += chunk("IDAT", zlibStored(raw))
        out += chunk("IEND", [])
        return out
    }

    /// Recomputes every chunk's CRC (as far as the chunk structure is intact).
    static func fixCRCs(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        var at = 8
        while at + 12 <= out.count {
            let length = Int(out[at]) << 24 | Int(out[at + 1]) << 16 | Int(out[at + 2]) << 8 | Int(out[at + 3])
            guard length <= out.count - at - 12 else { break }
            let crc = crc32(Array(out[(at + 4)..<(at + 8 + length)]))
            out.replaceSubrange((at + 8 + length)..<(at + 12 + length), with: bigEndian(crc))
            at += 12 + length
        }
        return out
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }

    /// A zlib stream of one stored (uncompressed) deflate block (data < 64 KiB).
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        let n = UInt16(data.count)
        var a: UInt32 = 1
        var b: UInt32 = 0
        for x in data {
            a = (a + UInt32(x)) % 65521
            b = (b + a) % 65521
        }
        return [0x78, 0x01, 0x01, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)] + data
            + bigEndian(b << 16 | a)
    }
}
