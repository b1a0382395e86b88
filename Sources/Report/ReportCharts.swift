import Figures
import Foundation
import NeuralNet
import Training

/// The charts of the report, drawn from metrics alone.
public enum ReportCharts {
    /// A line of a comparison: a label and the metrics of its seeds.
    struct Group {
        var label: String
        var color: Color
        var runs: [RunMetrics]
        /// Groups of different likelihoods get rows of their own: their losses are on other scales.
        var likelihood: Likelihood = .bernoulli
    }

    enum Part: String, CaseIterable {
        case recon, kl, total
        var title: String {
            switch self {
            case .recon: return "Reconstruction (BCE)"
            case .kl: return "KL divergence"
            case .total: return "Total loss (recon + β·KL)"
            }
        }
        func value(_ s: LossSummary) -> Double? {
            switch self {
            case .recon: return s.recon
            case .kl: return s.kl
            case .total: return s.total
            }
        }
    }

    static func name(_ likelihood: Likelihood) -> String {
        likelihood == .bernoulli ? "Bernoulli" : "continuous Bernoulli"
    }

    /// A panel's title; the recon panel says BCE only for the Bernoulli likelihood.
    static func title(_ part: Part, _ likelihood: Likelihood) -> String {
        part == .recon && likelihood != .bernoulli ? "Reconstruction (−log p(x|z))" : part.title
    }

    /// Mean over seeds of one loss part per epoch (nil where any seed lacks it).
    static func meanCurve(_ runs: [RunMetrics], _ part: Part, test: Bool) -> [Double]? {
        guard let epochs = runs.map(\.epochs.count).min(), epochs > 0 else { return nil }
        var out: [Double] = []
        for e in 0..<epochs {
            let values = runs.compactMap { part.value(test ? $0.epochs[e].test : $0.epochs[e].train) }
            guard values.count == runs.count else { return nil }
            out.append(values.reduce(0, +) / Double(values.count))
        }
        return out
    }

    /// Train (dashed) and test (solid) recon, KL and total per epoch, one panel each, one colour
    /// per group (mean over its seeds); a row of panels per likelihood when groups differ in it.
    /// `subtitle` (what every group shares) goes under the title, the legend in rows under both.
    static func curves(title: String, subtitle: String = "", groups: [Group]) -> Canvas {
        var parts = Part.allCases.filter { p in groups.contains { meanCurve($0.runs, p, test: true) != nil } }
        if !parts.contains(.kl) { parts = [.recon] }  // autoencoders only: the total is the recon
        let used = Likelihood.allCases.filter { l in groups.contains { $0.likelihood == l } }
        let rows = used.isEmpty ? [Likelihood.bernoulli] : used
        let panelWidth = 520.0
        let panelHeight = 432.0
        let width = panelWidth * Double(parts.count)
        var entries: [LegendEntry] = groups.filter { !$0.label.isEmpty }.map { .init($0.label, $0.color, []) }
        entries += [.init("test", Color.axis, []), .init("train", Color.axis, [6, 4])]
        let lines = legendLines(entries, width: width - 40)
        let legendTop = subtitle.isEmpty ? 44.0 : 64.0
        let top = legendTop + 14 + 20 * Double(lines.count - 1)
        let canvas = Canvas(width: Int(width), height: Int(top + panelHeight * Double(rows.count)))
        canvas.text(title, x: width / 2, y: 24, size: 16, anchor: .center, bold: true)
        if !subtitle.isEmpty { canvas.text(subtitle, x: width / 2, y: 44, size: 12.5, anchor: .center) }
        for (i, line) in lines.enumerated() {
            let y = legendTop + 20 * Double(i)
            var x = (width - line.reduce(0) { $0 + $1.width }) / 2
            for (entry, w) in line {
                canvas.line([(x, y), (x + 26, y)], entry.color, width: 2.2, dash: entry.dash)
                canvas.text(entry.label, x: x + 32, y: y + 4.5, size: 12.5)
                x += w
            }
        }
        for (row, likelihood) in rows.enumerated() {
            for (i, part) in parts.enumerated() {
                var heading = Self.title(part, likelihood)
                if rows.count > 1 { heading += " · \(name(likelihood))" }
                let y = top + Double(row) * panelHeight
                panel(
                    part, heading, groups.filter { $0.likelihood == likelihood }, canvas,
                    Rect(x: Double(i) * panelWidth, y: y, width: panelWidth, height: panelHeight))
            }
        }
        return canvas
    }

    /// An entry of a figure's legend: a label, its line's colour and dash.
    public struct LegendEntry {
        public var label: String
        public var color: Color
        public var dash: [Double]
        public init(_ label: String, _ color: Color, _ dash: [Double]) {
            (self.label, self.color, self.dash) = (label, color, dash)
        }
    }

    /// A line of a legend: its entries, each with its width (sample line, text and the gap to the next).
    public typealias LegendLine = [(entry: LegendEntry, width: Double)]

    /// The legend's entries in lines no wider than `width`, in order: as many to a line as fit,
    /// at least one.
    public static func legendLines(_ entries: [LegendEntry], width: Double) -> [LegendLine] {
        var lines: [LegendLine] = [[]]
        var used = 0.0
        for entry in entries {
            let w = Canvas.textWidth(entry.label, size: 12.5) + 44
            if used + w > width && !lines[lines.count - 1].isEmpty {
                lines.append([])
                used = 0
            }
            lines[lines.count - 1].append((entry, w))
            used += w
        }
        return lines
    }

    /// The y range of a loss-per-epoch panel showing `values`: 6 % of their span beyond them (at
    /// least 0.5 nats, for flat curves), not below 0 when none is negative (`Chart.padded`).
    public static func lossAxisRange(_ values: [Double]) -> ClosedRange<Double> {
        let (lo, hi) = (values.min() ?? 0, values.max() ?? 1)
        return Chart.padded(lo, hi, by: max(0.5, (hi - lo) * 0.06), dataMin: lo)
    }

    /// One panel of `curves`: the part's test and train curves of each group.
    private static func panel(_ part: Part, _ heading: String, _ groups: [Group], _ canvas: Canvas, _ rect: Rect) {
        var series: [Series] = []
        var values: [Double] = []
        for g in groups {
            guard let test = meanCurve(g.runs, part, test: true), let train = meanCurve(g.runs, part, test: false)
            else { continue }
            let x = (1...test.count).map(Double.init)
            series.append(Series("\(g.label) test", color: g.color, x: x, y: test, lineWidth: 2.2))
            series.append(Series("\(g.label) train", color: g.color, x: x, y: train, lineWidth: 1.6, dash: [6, 4]))
            // Epoch 1 is far above the rest; scale the axis to epochs 2 on when there are enough.
            values += (test.count >= 5 ? Array(test.dropFirst()) + Array(train.dropFirst()) : test + train)
        }
        let chart = Chart(
            title: heading, x: Axis("epoch", integer: true), y: Axis("nats per image", range: lossAxisRange(values)),
            series: series, legend: .none)
        chart.draw(on: canvas, in: rect)
    }

    /// Final test (solid) and train (dashed) losses against one varied config value, error bars
    /// one standard deviation over seeds.
    static func against(
        title: String, key: String, axisLabel: String, points: [(value: Double, runs: [RunMetrics])],
        logScale: Bool
    ) -> Canvas {
        var parts = Part.allCases.filter { p in points.contains { $0.runs.contains { p.value($0.final.test) != nil } } }
        if !parts.contains(.kl) { parts = [.recon] }
        let panelWidth = 480.0
        let height = 440.0
        let canvas = Canvas(width: Int(panelWidth * Double(parts.count)), height: Int(height))
        canvas.text(title, x: Double(canvas.width) / 2, y: 24, size: 16, anchor: .center, bold: true)
        let ticks = points.map(\.value)
        for (i, part) in parts.enumerated() {
            var series: [Series] = []
            for (test, color) in [(true, Color.categorical[0]), (false, Color.categorical[1])] {
                var xs: [Double] = []
                var ys: [Double] = []
                var es: [Double] = []
                for p in points {
                    let v = p.runs.compactMap { part.value(test ? $0.final.test : $0.final.train) }
                    guard !v.isEmpty else { continue }
                    let m = v.reduce(0, +) / Double(v.count)
                    let sd =
                        v.count > 1 ? (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot() : 0
                    xs.append(p.value)
                    ys.append(m)
                    es.append(sd)
                }
                series.append(
                    Series(
                        test ? "test" : "train", color: color, x: xs, y: ys, yError: es, lineWidth: 2,
                        dash: test ? [] : [6, 4], marker: 4))
            }
            let chart = Chart(
                title: part.title, x: Axis(axisLabel, scale: logScale ? .log2 : .linear, ticks: ticks),
                y: Axis("nats per image"), series: series, legend: i == 0 ? .automatic : .none)
            chart.draw(on: canvas, in: Rect(x: Double(i) * panelWidth, y: 34, width: panelWidth, height: height - 34))
        }
        return canvas
    }

    /// The rate-distortion plane: test KL (rate) against test recon (distortion), one point per
    /// β with error bars over seeds, and lines of equal recon + KL behind.
    static func rateDistortion(title: String, points: [(beta: Double, runs: [RunMetrics])]) -> Canvas {
        func stats(_ v: [Double]) -> (Double, Double) {
            let m = v.reduce(0, +) / Double(v.count)
            let sd = v.count > 1 ? (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot() : 0
            return (m, sd)
        }
        var xs: [Double] = []
        var ys: [Double] = []
        var xe: [Double] = []
        var ye: [Double] = []
        var labels: [String] = []
        for p in points.sorted(by: { $0.beta < $1.beta }) {
            let kl = p.runs.compactMap { $0.final.test.kl }
            let recon = p.runs.map { $0.final.test.recon }
            guard !kl.isEmpty else { continue }
            let (km, ks) = stats(kl)
            let (rm, rs) = stats(recon)
            xs.append(km)
            ys.append(rm)
            xe.append(ks)
            ye.append(rs)
            labels.append("β=\(RunConfig.compact(p.beta))" + (p.runs.count > 1 ? " (n=\(p.runs.count))" : ""))
        }
        let xMax = (xs.max() ?? 1) * 1.15 + 1
        let yMin = max(0, (ys.min() ?? 0) - 8)
        let yMax = (ys.max() ?? 1) + 8
        let xMin = max(0, (xs.min() ?? 0) - 3)
        // Lines of equal recon + KL (the β = 1 negative ELBO), 10 nats apart.
        let lowest = zip(xs, ys).map { $0 + $1 }.min() ?? 0
        var guides: [Series] = []
        let first = (lowest / 10).rounded(.down) * 10
        for k in 0..<12 {
            let c = first + Double(k) * 10
            guides.append(
                Series(
                    k % 2 == 0 ? "recon + KL = \(Int(c))" : "", color: Color(hex: 0xBBBBBB), x: [xMin - 50, xMax + 50],
                    y: [c - (xMin - 50), c - (xMax + 50)], lineWidth: 1, dash: [3, 3], inLegend: false))
        }
        let series = [
            Series(
                "β-VAE, test set", color: Color.categorical[3], x: xs, y: ys, yError: ye, xError: xe,
                lineWidth: 1.5, marker: 5, pointLabels: labels)
        ]
        let chart = Chart(
            title: title, x: Axis("rate: KL(q(z|x) ‖ p(z)), nats", range: xMin...xMax),
            y: Axis("distortion: reconstruction BCE, nats", range: yMin...yMax), series: series, guides: guides)
        let canvas = Canvas(width: 860, height: 640)
        chart.draw(on: canvas, in: Rect(x: 0, y: 0, width: 860, height: 640))
        return canvas
    }

    /// Existing figures side by side, each under its own heading.
    static func sideBySide(title: String, panels: [(heading: String, image: PNGImage)], width: Double = 440) -> Canvas {
        let heights = panels.map { width * Double($0.image.height) / Double($0.image.width) }
        let height = 44 + 26 + (heights.max() ?? 100) + 12
        let canvas = Canvas(
            width: Int(width * Double(panels.count) + 20 * Double(panels.count + 1)), height: Int(height))
        canvas.text(title, x: Double(canvas.width) / 2, y: 26, size: 16, anchor: .center, bold: true)
        for (i, p) in panels.enumerated() {
            let x = 20 + Double(i) * (width + 20)
            canvas.text(p.heading, x: x + width / 2, y: 60, size: 14, anchor: .center)
            canvas.image(p.image, in: Rect(x: x, y: 70, width: width, height: heights[i]))
        }
        return canvas
    }
}
