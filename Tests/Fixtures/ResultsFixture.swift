import Datasets
import Experiments
import Figures
import Foundation
import Models
import Support
import Training

/// A small fabricated results tree, shared by the report and export tests.
public enum ResultsFixture {
    public static let fingerprint = datasetFingerprint(DatasetName.mnist.pinnedChecksums)

    public static func scratchDirectory() -> String {
        let dir = NSTemporaryDirectory() + "vaelab-report-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    public static func config(_ model: ModelKind, d: Int, beta: Double = 1, seed: UInt64) -> RunConfig {
        var c = RunConfig()
        c.model = model
        c.latentDim = d
        c.beta = beta
        c.seed = seed
        c.epochs = 3
        return c
    }

    /// metrics.json text for a fabricated run: losses that depend smoothly on d, beta and the seed.
    public static func metricsJSON(_ c: RunConfig, hash: String? = nil) -> String {
        let vae = c.model == .vae
        let recon0 = 60 + 150 / Double(c.latentDim) + 8 * c.beta + Double(c.seed) * 0.5
        let kl0 = vae ? 3 * Double(c.latentDim).squareRoot() / c.beta + 1 + Double(c.seed) * 0.25 : 0
        func parts(_ r: Double, _ k: Double) -> String {
            vae
                ? #"{"kl": \#(k), "recon": \#(r), "total": \#(r + c.beta * k)}"#
                : #"{"kl": null, "recon": \#(r), "total": \#(r)}"#
        }
        let epochs = (1...c.epochs).map { e -> String in
            let f = 1 + 0.5 / Double(e)
            return
                #"{"epoch": \#(e), "test": \#(parts(recon0 * f + 1, kl0 / f)), "train": \#(parts(recon0 * f, kl0 / f))}"#
        }
        let d = c.latentDim
        let final = """
            {"active_unit_threshold": 0.01, "active_units": \(vae ? "\(d)" : "null"), \
            "iwae_samples": \(vae ? "100" : "null"),
             "kl_per_dimension": \
            \(vae ? "[" + Array(repeating: "\(kl0 / Double(d))", count: d).joined(separator: ",") + "]" : "null"),
             "knn_accuracy": \(0.7 + Double(d) / 100), "knn_neighbors": 5,
             "latent_variance": [\(Array(repeating: "1.0", count: d).joined(separator: ","))],
             "test": \(parts(recon0 + 1, kl0)), "test_nll_iwae": \(vae ? "\(recon0 + kl0 - 3)" : "null"), \
            "train": \(parts(recon0, kl0))}
            """
        return """
            {"config_hash": "\(hash ?? c.hash)", "data_fingerprint": "\(fingerprint)", \
            "epochs": [\(epochs.joined(separator: ","))],
             "final": \(final), "format": "vaelab.metrics/1", "units": "nats per image"}
            """
    }

    /// A small results tree: a reference study (two VAE seeds at d = 2, one at d = 16, an AE, a
    /// failed run and one never run) and a beta sweep sharing a run with it.
    public static func makeResults() throws -> String {
        let root = scratchDirectory() + "/results"
        let store = ResultsStore(root: root)
        try AtomicFile.makeDirectory(store.studiesDirectory)
        let reference: [(RunConfig, String)] = [
            (config(.vae, d: 2, seed: 0), "done"), (config(.vae, d: 2, seed: 1), "done"),
            (config(.vae, d: 16, seed: 0), "done"),
            (config(.ae, d: 2, seed: 0), "done"), (config(.ae, d: 16, seed: 0), "failed"),
            (config(.vae, d: 16, seed: 1), "missing"),
        ]
        let sweep: [(RunConfig, String)] = [0.5, 1, 2].map { (config(.vae, d: 16, beta: $0, seed: 0), "done") }
        var records: [StudyRecord] = []
        for (name, runs) in [("reference", reference), ("beta-sweep", sweep)] {
            var entries: [String] = []
            for (c, state) in runs {
                let id = c.runID(dataFingerprint: fingerprint)
                entries.append(
                    #"{"id": "\#(id)", "origin": "fixture", "#
                        + #""config": \#(String(decoding: c.canonicalJSON(), as: UTF8.self))}"#
                )
                let dir = store.run(id)
                switch state {
                case "done":
                    try dir.begin(c)
                    try AtomicFile.write(metricsJSON(c), to: dir.metricsPath)
                case "failed":
                    try dir.begin(c)
                    try AtomicFile.write(
                        #"{"error": "non-finite loss nan at epoch 2, batch 7", "#
                            + #""epoch": 2, "batch": 7, "finished_at": "x"}"#,
                        to: dir.failurePath)
                default: break
                }
            }
            let json = """
                {"format": "vaelab.study/1", "name": "\(name)", "description": "Fixture study \(name).",
                 "spec_file": "experiments/\(name).json", \
                "spec_sha256": "\(String(repeating: name == "reference" ? "a" : "b", count: 64))",
                 "runs": [\(entries.joined(separator: ","))]}
                """
            try AtomicFile.write(json, to: store.studiesDirectory + "/\(name).json")
            records.append(try JSONDecoder().decode(StudyRecord.self, from: Data(json.utf8)))
        }
        // One run has its figures: a samples grid carrying its id.
        let first = config(.vae, d: 2, seed: 0)
        let dir = store.run(first.runID(dataFingerprint: fingerprint))
        try AtomicFile.makeDirectory(dir.figuresPath)
        var grid = ImageGrid(title: "Samples", images: (0..<(4 * 784)).map { Float($0 % 28) / 27 }, rows: 2, columns: 2)
        grid.cell = 28
        try PNG.write(
            grid.render().pngImage(text: ["vaelab.run_id": first.runID(dataFingerprint: fingerprint)]),
            to: dir.figuresPath + "/" + RunFigures.samples)
        let summary = Summary.build(studies: records, store: store, dataFingerprints: ["mnist": fingerprint])
        try AtomicFile.write(CanonicalJSON.encode(summary), to: store.summaryJSONPath)
        return root
    }

}
