import Foundation

/// One axis of a chart: its label, scale and (optionally) fixed range and ticks.
public struct Axis: Sendable {
    public enum Scale: Sendable { case linear, log2, log10 }
    public var label: String
    public var scale: Scale
    public var range: ClosedRange<Double>?
    /// Explicit tick positions (data units); nice round ticks when nil.
    public var ticks: [Double]?
    /// The values are counts (epochs): the automatic ticks are whole numbers, at least 1 apart.
    public var integer: Bool
    public init(
        _ label: String, scale: Scale = .linear, range: ClosedRange<Double>? = nil, ticks: [Double]? = nil,
        integer: Bool = false
    ) {
        self.label = label
        self.scale = scale
        self.range = range
        self.ticks = ticks
        self.integer = integer
    }

    func transform(_ v: Double) -> Double {
        switch scale {
        case .linear: return v
        case .log2: return Foundation.log2(v)
        case .log10: return Foundation.log10(v)
        }
    }
}

/// A data series: a line through the points, markers at them, optional error bars.
public struct Series: Sendable {
    public var label: String
    public var color: Color
    public var x: [Double]
    public var y: [Double]
    /// Half-widths of vertical / horizontal error bars (nil or 0 draws none).
    public var yError: [Double]?
    public var xError: [Double]?
    public var lineWidth: Double = 2
    public var dash: [Double] = []
    /// Marker radius in pixels (0: none).
    public var marker: Double = 0
    /// Text written next to each point (e.g. "β=4").
    public var pointLabels: [String]?
    /// Listed in the legend.
    public var inLegend = true

    public init(
        _ label: String, color: Color, x: [Double], y: [Double], yError: [Double]? = nil, xError: [Double]? = nil,
        lineWidth: Double = 2, dash: [Double] = [], marker: Double = 0, pointLabels: [String]? = nil,
        inLegend: Bool = true
    ) {
        precondition(x.count == y.count, "series \(label): \(x.count) x values, \(y.count) y values")
        self.label = label
        self.color = color
        self.x = x
        self.y = y
        self.yError = yError
        self.xError = xError
        self.lineWidth = lineWidth
        self.dash = dash
        self.marker = marker
        self.pointLabels = pointLabels
        self.inLegend = inLegend
    }
}

/// An x-y chart: title, axes with ticks and labels, grid, series, legend.
public struct Chart: Sendable {
    /// Where the legend goes; `automatic` takes the inside corner that covers the least data
    /// (points, line segments, error bars and point labels), top right on a tie.
    public enum LegendPlace: Sendable { case automatic, topRight, topLeft, bottomRight, bottomLeft, none }
    public var title: String
    public var x: Axis
    public var y: Axis
    public var series: [Series]
    /// Lines drawn under the data in light grey (e.g. iso-loss lines), with an optional label each.
    public var guides: [Series] = []
    public var legend: LegendPlace = .automatic
    public var fontScale = 1.0

    public init(
        title: String, x: Axis, y: Axis, series: [Series], guides: [Series] = [], legend: LegendPlace = .automatic
    ) {
        self.title = title
        self.x = x
        self.y = y
        self.series = series
        self.guides = guides
        self.legend = legend
    }

    /// Where the data go: the plot rectangle and the data -> pixel mapping of both axes.
    struct Mapping {
        let plot: Rect
        let x: Axis, y: Axis
        let xRange: ClosedRange<Double>, yRange: ClosedRange<Double>
        func px(_ v: Double) -> Double {
            let (t0, t1) = (x.transform(xRange.lowerBound), x.transform(xRange.upperBound))
            return plot.x + (x.transform(v) - t0) / (t1 - t0) * plot.width
        }
        func py(_ v: Double) -> Double {
            let (t0, t1) = (y.transform(yRange.lowerBound), y.transform(yRange.upperBound))
            return plot.maxY - (y.transform(v) - t0) / (t1 - t0) * plot.height
        }
    }

    /// Draws the chart into `frame` of `canvas`. Where the legend would hide data in every corner
    /// and the y axis is automatic and linear, the y range grows upward until the band the legend
    /// takes at the top of the plot is empty.
    public func draw(on canvas: Canvas, in frame: Rect) {
        let fs = 13 * fontScale
        // A title wider than the frame is set smaller until it fits (one that fits is untouched).
        var titleSize = 15 * fontScale
        let room = frame.width - 12
        let width = canvas.textWidth(title, size: titleSize, bold: true)
        if width > room { titleSize = max(9, titleSize * room / width) }
        canvas.text(
            title, x: frame.x + frame.width / 2, y: frame.y + 18 * fontScale, size: titleSize, anchor: .center,
            bold: true)
        guard let m = layout(canvas, in: frame) else { return }
        let yTicks = ticks(y, m.yRange)
        drawAxes(
            on: canvas, m, frame: frame, yTicks: yTicks.map { ($0, Chart.format($0, step: step(of: yTicks))) }, size: fs
        )
        canvas.clip(m.plot)
        drawData(on: canvas, m)
        canvas.unclip()
        drawLabels(on: canvas, m, size: fs)
        drawLegend(on: canvas, plot: m.plot, size: fs * 0.9, avoiding: occupied(m, canvas: canvas, size: fs))
    }

    /// The plot and its mapping in `frame` (nil where the frame is too small for a plot), with the
    /// y range grown for the legend where it needs room (`headroom`).
    private func layout(_ canvas: Canvas, in frame: Rect) -> Mapping? {
        let fs = 13 * fontScale
        func extent(_ v: [Double], _ e: [Double]?) -> [Double] {
            v.indices.flatMap { i in [v[i] - (e?[i] ?? 0), v[i] + (e?[i] ?? 0)] }
        }
        let xr = resolvedRange(x, values: series.flatMap { extent($0.x, $0.xError) })
        var yr = resolvedRange(y, values: series.flatMap { extent($0.y, $0.yError) })
        let box = legendSize(canvas, size: fs * 0.9)
        for _ in 0..<3 {
            guard let m = mapping(canvas, frame: frame, xRange: xr, yRange: yr, size: fs),
                let grown = headroom(m, legend: box, occupied: occupied(m, canvas: canvas, size: fs))
            else { break }
            yr = grown
        }
        return mapping(canvas, frame: frame, xRange: xr, yRange: yr, size: fs)
    }

    /// The y range the chart is drawn with in `frame`, and how many of the pixels its data occupy
    /// the legend covers there (0 unless no corner and no headroom could avoid them); nil where
    /// the frame has no room for a plot.
    public func legendPlacement(_ canvas: Canvas, in frame: Rect) -> (yRange: ClosedRange<Double>, covered: Int)? {
        let fs = 13 * fontScale
        guard let m = layout(canvas, in: frame) else { return nil }
        guard let box = legendSize(canvas, size: fs * 0.9), legend == .automatic else { return (m.yRange, 0) }
        let taken = occupied(m, canvas: canvas, size: fs)
        return (
            m.yRange, Chart.legendCorner(plot: m.plot, width: box.width, height: box.height, avoiding: taken).covered
        )
    }

    /// The boxes of the point labels as drawn in `frame` (text from baseline - size to baseline),
    /// in the series' and points' order.
    public func pointLabelBoxes(_ canvas: Canvas, in frame: Rect) -> [Rect] {
        let fs = 13 * fontScale
        guard let m = layout(canvas, in: frame) else { return [] }
        return pointLabels(m, canvas: canvas, size: fs).map {
            Rect(x: $0.x, y: $0.y - fs * 0.85, width: $0.width, height: fs * 0.85)
        }
    }

    /// The plot rectangle in `frame` (room left for the y tick labels of yr) and its mapping; nil
    /// where the frame is too small for a plot.
    private func mapping(
        _ canvas: Canvas, frame: Rect, xRange: ClosedRange<Double>, yRange: ClosedRange<Double>, size fs: Double
    ) -> Mapping? {
        let yTicks = ticks(y, yRange)
        let labelWidth =
            yTicks.map { canvas.textWidth(Chart.format($0, step: step(of: yTicks)), size: fs * 0.9) }.max() ?? 20
        let plot = frame.inset(
            top: 30 * fontScale, right: 14, bottom: 46 * fontScale, left: labelWidth + 30 * fontScale)
        guard plot.width > 10, plot.height > 10 else { return nil }
        return Mapping(plot: plot, x: x, y: y, xRange: xRange, yRange: yRange)
    }

    /// m's y range grown upward so that nothing `occupied` lies in the band a legend of `box` takes
    /// at the top of the plot, where every corner would hide data (automatic legend, automatic
    /// linear y axis); nil where nothing needs to move or the plot is too short to make room.
    private func headroom(
        _ m: Mapping, legend box: (width: Double, height: Double)?, occupied: [(Double, Double)]
    ) -> ClosedRange<Double>? {
        guard legend == .automatic, y.range == nil, y.scale == .linear, let box,
            Chart.legendCorner(plot: m.plot, width: box.width, height: box.height, avoiding: occupied).covered > 0,
            let top = occupied.map(\.1).min()
        else { return nil }
        // The band: the box, its 8-pixel inset, the corner test's 6-pixel margin and 4 to spare.
        let (band, h, (lo, hi)) = (box.height + 18, m.plot.height, (m.yRange.lowerBound, m.yRange.upperBound))
        guard h > 2 * band else { return nil }
        // The value at the topmost occupied pixel, placed `band` pixels below the plot's top.
        let value = lo + (m.plot.maxY - top) / h * (hi - lo)
        let grown = (h * value - band * lo) / (h - band)
        return grown > hi ? lo...grown : nil
    }

    /// Grid lines, tick labels, the frame and the axis labels.
    private func drawAxes(on canvas: Canvas, _ m: Mapping, frame: Rect, yTicks: [(Double, String)], size fs: Double) {
        let plot = m.plot
        for (t, label) in yTicks {
            let yy = m.py(t)
            canvas.line([(plot.x, yy), (plot.maxX, yy)], .grid, width: 1)
            canvas.text(label, x: plot.x - 6, y: yy + fs * 0.32, size: fs * 0.9, color: .axis, anchor: .right)
        }
        let xTicks = ticks(x, m.xRange)
        let xStep = step(of: xTicks)
        for t in xTicks {
            let xx = m.px(t)
            canvas.line([(xx, plot.y), (xx, plot.maxY)], .grid, width: 1)
            canvas.text(
                Chart.format(t, step: xStep), x: xx, y: plot.maxY + fs * 1.25, size: fs * 0.9, color: .axis,
                anchor: .center)
        }
        canvas.stroke(plot, .axis, width: 1)
        canvas.text(x.label, x: plot.x + plot.width / 2, y: frame.maxY - 8, size: fs, anchor: .center)
        canvas.text(y.label, x: frame.x + fs + 2, y: plot.y + plot.height / 2, size: fs, anchor: .center, rotated: true)
    }

    /// Guides, lines, error bars and markers (the caller clips them to the plot).
    private func drawData(on canvas: Canvas, _ m: Mapping) {
        for g in guides {
            canvas.line(zip(g.x, g.y).map { (m.px($0), m.py($1)) }, g.color, width: g.lineWidth, dash: g.dash)
        }
        for s in series {
            if s.lineWidth > 0 {
                canvas.line(zip(s.x, s.y).map { (m.px($0), m.py($1)) }, s.color, width: s.lineWidth, dash: s.dash)
            }
            for i in s.x.indices {
                let (xx, yy) = (m.px(s.x[i]), m.py(s.y[i]))
                if let e = s.yError?[i], e > 0 {
                    let (lo, hi) = (m.py(s.y[i] - e), m.py(s.y[i] + e))
                    canvas.line([(xx, lo), (xx, hi)], s.color, width: 1.5)
                    canvas.line([(xx - 4, lo), (xx + 4, lo)], s.color, width: 1.5)
                    canvas.line([(xx - 4, hi), (xx + 4, hi)], s.color, width: 1.5)
                }
                if let e = s.xError?[i], e > 0 {
                    canvas.line([(m.px(s.x[i] - e), yy), (m.px(s.x[i] + e), yy)], s.color, width: 1.5)
                }
                if s.marker > 0 {
                    canvas.circle(xx, yy, radius: s.marker, fill: s.color, outline: s.marker >= 3 ? .white : nil)
                } else if s.lineWidth > 0 && s.x.count == 1 {
                    canvas.circle(xx, yy, radius: s.lineWidth + 1.5, fill: s.color)  // a line through one point: a dot
                }
            }
        }
    }

    /// Guide labels (where a guide leaves the plot's top or right edge) and point labels.
    private func drawLabels(on canvas: Canvas, _ m: Mapping, size fs: Double) {
        for g in guides where !g.label.isEmpty {
            if let i = g.x.indices.last(where: { m.px(g.x[$0]) <= m.plot.maxX - 4 && m.py(g.y[$0]) >= m.plot.y + 4 }) {
                canvas.text(
                    g.label, x: m.px(g.x[i]) - 2, y: m.py(g.y[i]) - 3, size: fs * 0.75, color: Color.axis,
                    anchor: .right)
            }
        }
        for l in pointLabels(m, canvas: canvas, size: fs) {
            canvas.text(l.text, x: l.x, y: l.y, size: fs * 0.85, color: l.color)
        }
    }

    /// A point label as drawn: its text, left end, baseline, width and colour.
    private struct PointLabel {
        let text: String
        let x, y, width: Double
        let color: Color
    }

    /// Each point label's text, left end and baseline: 7 pixels up and right of its point, or,
    /// where that would overlap a label placed before it (points that nearly coincide), a text
    /// line below that label, and so on until it clears them all.
    private func pointLabels(_ m: Mapping, canvas: Canvas, size fs: Double) -> [PointLabel] {
        let line = fs * 0.85 * 1.25
        var placed: [PointLabel] = []
        for s in series {
            guard let labels = s.pointLabels else { continue }
            for i in s.x.indices where i < labels.count {
                let (x, width) = (m.px(s.x[i]) + 7, canvas.textWidth(labels[i], size: fs * 0.85))
                var y = m.py(s.y[i]) - 7
                while let other = placed.first(where: {
                    abs($0.y - y) < line && $0.x < x + width && x < $0.x + $0.width
                }) {
                    y = other.y + line
                }
                placed.append(PointLabel(text: labels[i], x: x, y: y, width: width, color: s.color))
            }
        }
        return placed
    }

    /// Everything the legend should not hide, in pixels: points, samples along lines and error
    /// bars, and the boxes of point labels.
    private func occupied(_ m: Mapping, canvas: Canvas, size fs: Double) -> [(Double, Double)] {
        var occupied: [(Double, Double)] = []
        for s in series {
            let pts = zip(s.x, s.y).map { (m.px($0), m.py($1)) }
            occupied += pts
            if s.lineWidth > 0 {
                for (a, b) in zip(pts, pts.dropFirst()) {
                    for k in 1..<12 {
                        let t = Double(k) / 12
                        occupied.append((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t))
                    }
                }
            }
            for i in s.x.indices {
                if let e = s.yError?[i], e > 0 {
                    for k in 0...6 { occupied.append((m.px(s.x[i]), m.py(s.y[i] - e + 2 * e * Double(k) / 6))) }
                }
            }
        }
        for l in pointLabels(m, canvas: canvas, size: fs) {
            for k in 0...4 { occupied.append((l.x + l.width * Double(k) / 4, l.y - fs * 0.4)) }
        }
        return occupied
    }

    private var legendEntries: [Series] { legend == .none ? [] : series.filter { $0.inLegend && !$0.label.isEmpty } }

    /// The legend box's size for text of `size`; nil when there is no legend.
    private func legendSize(_ canvas: Canvas, size: Double) -> (width: Double, height: Double)? {
        let entries = legendEntries
        guard !entries.isEmpty else { return nil }
        let width = (entries.map { canvas.textWidth($0.label, size: size) }.max() ?? 0) + 44
        return (width, size * 1.5 * Double(entries.count) + 8)
    }

    private func drawLegend(on canvas: Canvas, plot: Rect, size: Double, avoiding occupied: [(Double, Double)]) {
        let entries = legendEntries
        guard let (width, height) = legendSize(canvas, size: size) else { return }
        let rowHeight = size * 1.5
        let place =
            legend == .automatic
            ? Chart.legendCorner(plot: plot, width: width, height: height, avoiding: occupied).place : legend
        let box = Chart.legendBox(place, plot: plot, width: width, height: height)
        canvas.fill(box, Color.white.with(alpha: 0.88))
        canvas.stroke(box, .grid, width: 1)
        for (i, s) in entries.enumerated() {
            let yy = box.y + 4 + rowHeight * (Double(i) + 0.5)
            if s.lineWidth > 0 {
                canvas.line([(box.x + 8, yy), (box.x + 30, yy)], s.color, width: s.lineWidth, dash: s.dash)
            }
            if s.marker > 0 || s.lineWidth == 0 {
                canvas.circle(box.x + 19, yy, radius: max(s.marker, 3), fill: s.color)
            }
            canvas.text(s.label, x: box.x + 36, y: yy + size * 0.35, size: size)
        }
    }

    /// The legend's box of the given size in a corner of the plot.
    public static func legendBox(_ place: LegendPlace, plot: Rect, width: Double, height: Double) -> Rect {
        let left = place == .topLeft || place == .bottomLeft
        let top = place == .topLeft || place == .topRight || place == .automatic
        return Rect(
            x: left ? plot.x + 8 : plot.maxX - width - 8, y: top ? plot.y + 8 : plot.maxY - height - 8,
            width: width, height: height)
    }

    /// The corner whose legend box (with a 6-pixel margin) covers the fewest of the `occupied`
    /// pixel positions (top right, top left, bottom right, bottom left on a tie), and how many it covers.
    public static func legendCorner(plot: Rect, width: Double, height: Double, avoiding occupied: [(Double, Double)])
        -> (place: LegendPlace, covered: Int)
    {
        let corners: [LegendPlace] = [.topRight, .topLeft, .bottomRight, .bottomLeft]
        let counts = corners.map { place in
            let r = legendBox(place, plot: plot, width: width, height: height)
            return occupied.filter { $0.0 >= r.x - 6 && $0.0 <= r.maxX + 6 && $0.1 >= r.y - 6 && $0.1 <= r.maxY + 6 }
                .count
        }
        let best = counts.firstIndex(of: counts.min()!)!
        return (corners[best], counts[best])
    }

    private func resolvedRange(_ axis: Axis, values: [Double]) -> ClosedRange<Double> {
        if let r = axis.range { return r }
        let finite = values.filter { $0.isFinite && (axis.scale == .linear || $0 > 0) }
        guard let lo = finite.min(), let hi = finite.max() else { return 0...1 }
        if axis.scale != .linear {
            // Half a step of margin in log space.
            let f = axis.scale == .log2 ? 2.0 : 10.0
            return (lo / pow(f, 0.15))...(hi * pow(f, 0.15))
        }
        // Flat data get a span of their own: 5 % of their value, at least 1, each side.
        let flat = hi - lo < 1e-12 * max(1, abs(hi))
        let (a, b) = flat ? (lo - max(1, abs(lo) * 0.05), hi + max(1, abs(hi) * 0.05)) : (lo, hi)
        return Chart.padded(a, b, by: (b - a) * 0.06, dataMin: lo)
    }

    /// lo...hi widened by `pad` each side, but not below 0 where no value (`dataMin` the least) is
    /// negative: an axis of losses, KL or rates shows no negative ticks.
    public static func padded(_ lo: Double, _ hi: Double, by pad: Double, dataMin: Double) -> ClosedRange<Double> {
        (dataMin >= 0 ? max(0, lo - pad) : lo - pad)...(hi + pad)
    }

    private func ticks(_ axis: Axis, _ r: ClosedRange<Double>) -> [Double] {
        if let t = axis.ticks { return t.filter { r.contains($0) } }
        switch axis.scale {
        case .linear: return Chart.niceTicks(r, minStep: axis.integer ? 1 : 0)
        case .log2, .log10:
            let base = axis.scale == .log2 ? 2.0 : 10.0
            let lo = Int(floor(axis.transform(r.lowerBound)))
            let hi = Int(ceil(axis.transform(r.upperBound)))
            return (lo...max(lo, hi)).map { pow(base, Double($0)) }.filter { r.contains($0) }
        }
    }

    private func step(of ticks: [Double]) -> Double { ticks.count >= 2 ? abs(ticks[1] - ticks[0]) : 1 }

    /// Round tick positions (1, 2, 5 x 10^k apart), about 5 to 8 of them, inside `r`, at least
    /// `minStep` apart (1 for an axis of whole numbers: no tick at epoch 1.5).
    public static func niceTicks(_ r: ClosedRange<Double>, target: Int = 6, minStep: Double = 0) -> [Double] {
        let span = r.upperBound - r.lowerBound
        guard span > 0, span.isFinite else { return [r.lowerBound] }
        let raw = max(span / Double(target), minStep)
        let magnitude = pow(10, floor(log10(raw)))
        let steps = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.filter { minStep < 1 || $0 == $0.rounded() }
        let step = steps.first { $0 >= raw } ?? 10 * magnitude
        var t = ceil(r.lowerBound / step) * step
        var out: [Double] = []
        while t <= r.upperBound + step * 1e-9 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    /// A tick label with as many decimals as the tick step needs (2.5 -> one, 0.25 -> two).
    public static func format(_ v: Double, step: Double) -> String {
        if v != 0 && (abs(v) >= 1e6 || abs(v) < 1e-3) { return String(format: "%.0e", v) }
        let decimals =
            (0...4).first { k in
                let scaled = step * pow(10, Double(k))
                return abs(scaled - scaled.rounded()) < 1e-6 * max(1, scaled)
            } ?? 4
        let s = String(format: "%.\(decimals)f", v)
        return s == "-0" ? "0" : s
    }
}
