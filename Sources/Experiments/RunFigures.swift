import Datasets
import Figures
import Foundation
import Models
import NeuralNet
import Support
import Training

/// The figures of one finished run that need its trained model, written to
/// `<run>/figures/*.png` when the run finishes (or later from `model.safetensors`):
/// reconstructions, samples from N(0, I), the latent map, interpolations and, for d = 2, the
/// decoded manifold. Deterministic: the same weights and config give the same pixels.
public enum RunFigures {
    public static let reconstructions = "reconstructions.png"
    public static let samples = "samples.png"
    public static let latentMap = "latent-map.png"
    public static let interpolations = "interpolations.png"
    public static let manifold = "manifold.png"

    /// The file names a run of this config gets.
    public static func names(for config: RunConfig) -> [String] {
        [reconstructions, samples, latentMap, interpolations] + (config.latentDim == 2 ? [manifold] : [])
    }

    public static func complete(_ dir: RunDirectory, config: RunConfig) -> Bool {
        names(for: config).allSatisfy { FileManager.default.fileExists(atPath: dir.figuresPath + "/" + $0) }
    }

    /// Saved weights that cannot be used; one line naming the file.
    public struct WeightsError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): unusable weights: \(reason)" }
    }

    /// The trained model in `dir/model.safetensors`, checked against the config.
    public static func loadModel(_ dir: RunDirectory, config: RunConfig) throws -> any AutoencoderModel {
        let (tensors, meta) = try SafeTensors.read(path: dir.weightsPath)
        guard meta["config_hash"] == config.hash else {
            throw WeightsError(path: dir.weightsPath, reason: "written for another config")
        }
        let model = ModelRegistry.make(config.modelConfig)
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        if let name = model.store.firstMismatch(in: byName) {
            throw WeightsError(path: dir.weightsPath, reason: "tensor \(name) missing or of the wrong shape")
        }
        model.store.load(byName)
        return model
    }

    /// Draws every figure of the run into `dir/figures/` (the model computing as in training:
    /// `SubnormalMode`).
    public static func render(
        model: any AutoencoderModel, config: RunConfig, runID: String, test: DatasetSplit,
        into dir: RunDirectory
    ) throws {
        try AtomicFile.makeDirectory(dir.figuresPath)
        let drawing = Drawing(model: model, config: config, runID: runID, test: test, dir: dir)
        try SubnormalMode.flushing {
            try drawing.reconstructions()
            try drawing.samples()
            let latents = Evaluation.latents(model, images: test).mu
            try drawing.save(
                latentMapChart(
                    latents, labels: test.labels, count: test.count, d: config.latentDim, model: config.model,
                    dataset: drawing.dataset, name: drawing.name),
                latentMap, "Latent map of the test set")
            try drawing.interpolations(latents)
            if config.latentDim == 2 { try drawing.manifold() }
        }
    }

    /// One run's figures: what they share (the model, its test set, the names and PNG text).
    private struct Drawing {
        let model: any AutoencoderModel
        let config: RunConfig
        let runID: String
        let test: DatasetSplit
        let dir: RunDirectory
        var name: String { Summary.label(config) + " · seed \(config.seed)" }
        var dataset: DatasetName { DatasetName(rawValue: config.dataset) ?? .mnist }
        var pixels: Int { test.pixelsPerImage }

        func save(_ canvas: Canvas, _ file: String, _ title: String) throws {
            let text = [
                "Software": "vaelab \(Provenance.version)", "vaelab.run_id": runID,
                "vaelab.config_hash": config.hash, "Title": title,
            ]
            try PNG.write(canvas.pngImage(text: text), to: dir.figuresPath + "/" + file)
        }

        /// Test images in a fixed order: the k-th occurrence of each digit.
        func occurrence(_ digit: Int, _ k: Int) -> Int? {
            var seen = 0
            for i in 0..<test.count where Int(test.labels[i]) == digit {
                if seen == k { return i }
                seen += 1
            }
            return nil
        }

        /// Two blocks of ten digits, originals over reconstructions.
        func reconstructions() throws {
            let chosen = (0..<2).flatMap { k in (0..<10).compactMap { occurrence($0, k) } }
            let originals = chosen.flatMap { test.image($0) }
            let recon = reconstruct(model, originals, count: chosen.count, like: test)
            let columns = min(10, chosen.count)
            var grid: [Float] = []
            var labels: [String] = []
            for block in stride(from: 0, to: chosen.count, by: columns) {
                let n = min(columns, chosen.count - block)
                guard n == columns else { break }
                grid += originals[(block * pixels)..<((block + n) * pixels)]
                grid += recon[(block * pixels)..<((block + n) * pixels)]
                labels += ["test image", config.model.hasPosterior ? "decoded mean" : "reconstruction"]
            }
            guard !grid.isEmpty else { return }
            var g = ImageGrid(
                title: "Reconstructions of test images", images: grid, rows: labels.count, columns: columns)
            g.subtitle = name
            g.rowLabels = labels
            try save(g.render(), RunFigures.reconstructions, "Reconstructions of test images")
        }

        /// z ~ N(0, I) from the run's `figures` stream, decoded.
        func samples() throws {
            let d = config.latentDim
            var rng = Xoshiro256(seed: config.seed, stream: .figures)
            var z = [Float](repeating: 0, count: 100 * d)
            z.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
            var grid = ImageGrid(
                title: "Samples decoded from z ~ N(0, I)", images: decode(model, z, count: 100), rows: 10, columns: 10)
            grid.subtitle = name
            grid.cell = 36
            grid.gap = 2
            try save(grid.render(), RunFigures.samples, "Samples decoded from z ~ N(0, I)")
        }

        /// Between pairs of test images' latent means [count, d].
        func interpolations(_ latents: [Float]) throws {
            let d = config.latentDim
            let pairs = [(0, 6), (1, 7), (2, 5), (3, 8), (4, 9), (5, 3), (7, 2), (9, 4)].compactMap {
                a, b -> (Int, Int)? in
                guard let i = occurrence(a, 2), let j = occurrence(b, 2) else { return nil }
                return (i, j)
            }
            guard !pairs.isEmpty else { return }
            let steps = 10
            var codes: [Float] = []
            for (i, j) in pairs {
                for s in 0..<steps {
                    let a = Float(s) / Float(steps - 1)
                    for k in 0..<d { codes.append((1 - a) * latents[i * d + k] + a * latents[j * d + k]) }
                }
            }
            let decoded = decode(model, codes, count: pairs.count * steps)
            var rows: [Float] = []
            for (r, (i, j)) in pairs.enumerated() {
                rows += test.image(i)
                rows += decoded[(r * steps * pixels)..<((r + 1) * steps * pixels)]
                rows += test.image(j)
            }
            var g = ImageGrid(
                title: "Interpolations z = (1 − a)·z₁ + a·z₂ between test images x₁, x₂", images: rows,
                rows: pairs.count, columns: steps + 2)
            g.subtitle =
                name + (config.model.hasPosterior ? " · z = posterior means" : " · z = codes")
                + " · columns: a from 0 to 1"
            g.columnLabels =
                ["x₁"]
                + (0..<steps).map { s in
                    s == 0 ? "0" : s == steps - 1 ? "1" : String(format: "%.2f", Double(s) / Double(steps - 1))
                } + ["x₂"]
            let classes = dataset.classNames
            g.rowLabels = pairs.map { "\(classes[Int(test.labels[$0.0])]) → \(classes[Int(test.labels[$0.1])])" }
            g.cell = 36
            g.gap = 3
            try save(g.render(), RunFigures.interpolations, "Interpolations between test images' latent means")
        }

        /// The decoder of a 2-d latent space over a 20 x 20 grid of N(0, 1) quantiles.
        func manifold() throws {
            let n = 20
            let q = (0..<n).map { Float(normalQuantile((Double($0) + 0.5) / Double(n))) }
            var codes: [Float] = []
            for row in 0..<n { for col in 0..<n { codes += [q[col], q[n - 1 - row]] } }
            var g = ImageGrid(
                title: "Decoded manifold over N(0, 1) quantiles", images: decode(model, codes, count: n * n),
                rows: n, columns: n)
            g.subtitle = name
            g.cell = 28
            g.gap = 0
            g.xNote = String(format: "z₁ from %.2f to %.2f →", q[0], q[n - 1])
            g.yNote = String(format: "z₂ from %.2f to %.2f →", q[0], q[n - 1])
            try save(g.render(), RunFigures.manifold, "Decoded manifold of the 2-d latent space")
        }
    }

    /// Renders a finished run's figures from its saved weights (for runs made before figures
    /// existed, or whose figures were deleted).
    public static func renderSaved(_ dir: RunDirectory, runID: String, config: RunConfig, test: DatasetSplit) throws {
        let model = try loadModel(dir, config: config)
        try render(model: model, config: config, runID: runID, test: test, into: dir)
    }

    // MARK: - Pieces

    /// The test set's codes in 2-D (the first two principal components where d > 2), one colour
    /// per class, with the dataset's class names in a legend right of the plot.
    public static func latentMapChart(
        _ latents: [Float], labels: [UInt8], count: Int, d: Int, model: ModelKind, dataset: DatasetName, name: String
    ) throws -> Canvas {
        var xs = [Double]()
        var ys = [Double]()
        var xLabel = model.hasPosterior ? "z₁ (posterior mean)" : "z₁ (code)"
        var yLabel = model.hasPosterior ? "z₂ (posterior mean)" : "z₂ (code)"
        if d == 2 {
            xs = (0..<count).map { Double(latents[$0 * 2]) }
            ys = (0..<count).map { Double(latents[$0 * 2 + 1]) }
        } else {
            let pca = try PCA(points: latents, count: count, dimension: d)
            let p = pca.project(latents, count: count, components: 2)
            xs = (0..<count).map { p[$0 * 2] }
            ys = (0..<count).map { p[$0 * 2 + 1] }
            let r = pca.explainedRatio
            xLabel = String(
                format: "PC1 of the %@ (%.1f%% of variance)", model.hasPosterior ? "posterior means" : "codes",
                100 * r[0])
            yLabel = String(format: "PC2 (%.1f%% of variance)", 100 * r[1])
        }
        // Robust limits: the 0.5% and 99.5% quantiles with a margin, so a few outliers do not
        // squeeze the map.
        func limits(_ v: [Double]) -> ClosedRange<Double> {
            let s = v.sorted()
            let lo = s[Int(Double(s.count - 1) * 0.005)]
            let hi = s[Int(Double(s.count - 1) * 0.995)]
            let pad = max(1e-6, (hi - lo) * 0.08)
            return (lo - pad)...(hi + pad)
        }
        let classes = dataset.classNames
        let series = classes.indices.map { c -> Series in
            let idx = (0..<count).filter { Int(labels[$0]) == c }
            return Series(
                classes[c], color: Color.categorical[c % 10].with(alpha: 0.55), x: idx.map { xs[$0] },
                y: idx.map { ys[$0] },
                lineWidth: 0, marker: 1.6)
        }
        var chart = Chart(
            title: "Latent map of \(count) test images, by \(dataset.classKind) — \(name)",
            x: Axis(xLabel, range: limits(xs)), y: Axis(yLabel, range: limits(ys)), series: series, legend: .none)
        chart.fontScale = 1
        // Legend outside the plot, opaque colours: 90 pixels, or as wide as the longest name needs.
        let legendWidth = max(90, 48 + classes.map { Canvas.textWidth($0, size: 13) }.max()!)
        let canvas = Canvas(width: 730 + Int(legendWidth.rounded(.up)), height: 700)
        chart.draw(on: canvas, in: Rect(x: 0, y: 0, width: 730, height: 700))
        canvas.text(dataset.classKind, x: 742, y: 60, size: 13, bold: true)
        for (c, name) in classes.enumerated() {
            let y = 84 + Double(c) * 24
            canvas.circle(752, y - 4, radius: 5, fill: Color.categorical[c % 10])
            canvas.text(name, x: 766, y: y, size: 13)
        }
        return canvas
    }

    /// The decoder's mean images (`Likelihood.mean` of its logits) for `count` codes.
    static func decode(_ model: any AutoencoderModel, _ codes: [Float], count: Int) -> [Float] {
        let d = model.config.latentDim
        let pixels = model.config.pixels
        var out = [Float](repeating: 0, count: count * pixels)
        let batch = Evaluation.batchSize
        for start in stride(from: 0, to: count, by: batch) {
            let n = min(batch, count - start)
            let z = Tensor(shape: [n, d], values: Array(codes[(start * d)..<((start + n) * d)]))
            let logits = model.decode(z)
            out.withUnsafeMutableBufferPointer {
                model.config.likelihood.mean(
                    logits: logits.data, into: $0.baseAddress! + start * pixels, count: n * pixels)
            }
        }
        return out
    }

    /// Decoded posterior means (VAE) or codes (AE) of `count` images.
    static func reconstruct(_ model: any AutoencoderModel, _ images: [Float], count: Int, like split: DatasetSplit)
        -> [Float]
    {
        let batch = DatasetSplit(
            images: images, labels: [UInt8](repeating: 0, count: count), count: count, rows: split.rows,
            cols: split.cols)
        let mu = Evaluation.latents(model, images: batch).mu
        return decode(model, mu, count: count)
    }

    /// Φ⁻¹(p) of the standard normal, by bisection on erfc (exact to ~1e-12 for the grid's p).
    static func normalQuantile(_ p: Double) -> Double {
        var lo = -10.0
        var hi = 10.0
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if 0.5 * erfc(-mid / 2.0.squareRoot()) < p { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }
}
