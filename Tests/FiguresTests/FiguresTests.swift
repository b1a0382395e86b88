import Figures
import Foundation
import Testing

private func scratch(_ name: String) -> String {
    let dir = NSTemporaryDirectory() + "vaelab-figures-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir + "/" + name
}

private let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Golden"

@Suite("PNG through libpng")
struct PNGTests {
    @Test func rgbImageAndTextChunksRoundTrip() throws {
        let w = 7
        let h = 5
        let pixels = (0..<(w * h * 3)).map { UInt8(($0 * 37) % 256) }
        let image = PNGImage(
            width: w, height: h, channels: 3, pixels: pixels,
            text: ["vaelab.run_id": "vae-mnist-d2-x", "vaelab.config_hash": "abc123", "Title": "β test ü"])
        let path = scratch("rgb.png")
        try PNG.write(image, to: path)
        let back = try PNG.read(path)
        #expect(back == image)
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        #expect(bytes.prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }

    @Test func grayImageRoundTripsAndEncodingIsDeterministic() throws {
        let image = PNGImage(width: 28, height: 3, channels: 1, pixels: (0..<84).map { UInt8($0 * 3) })
        let a = try PNG.encode(image)
        let b = try PNG.encode(image)
        #expect(a == b)
        #expect(try PNG.decode(a) == image)
    }

    @Test func badInputsGiveTypedErrors() throws {
        #expect(throws: PNGError.self) { try PNG.decode([1, 2, 3]) }
        let good = try PNG.encode(PNGImage(width: 4, height: 4, channels: 3, pixels: [UInt8](repeating: 9, count: 48)))
        for cut in [good.count / 2, good.count - 13, 20] {
            #expect(throws: PNGError.self) { try PNG.decode(Array(good.prefix(cut))) }
        }
        var flipped = good
        flipped[40] ^= 0xFF  // inside a chunk: its CRC no longer matches
        #expect(throws: PNGError.self) { try PNG.decode(flipped) }
        #expect(throws: PNGError.self) { try PNG.encode(PNGImage(width: 1, height: 1, channels: 2, pixels: [0, 0])) }
        #expect(throws: PNGError.self) {
            try PNG.encode(
                PNGImage(width: 1, height: 1, channels: 1, pixels: [0], text: [String(repeating: "k", count: 80): "v"]))
        }
        let missing = scratch("missing.png")
        #expect(throws: PNGError(file: missing, message: "cannot read the file")) { try PNG.read(missing) }
    }
}

/// Mean absolute difference of two same-sized images' bytes and the share of bytes off by more
/// than 64: a comparison that tolerates anti-aliasing noise but not a moved line or a lost label.
private func difference(_ a: PNGImage, _ b: PNGImage) -> (mean: Double, bad: Double) {
    guard a.width == b.width, a.height == b.height, a.channels == b.channels else { return (255, 1) }
    var sum = 0.0
    var bad = 0
    for (x, y) in zip(a.pixels, b.pixels) {
        let d = abs(Int(x) - Int(y))
        sum += Double(d)
        if d > 64 { bad += 1 }
    }
    return (sum / Double(a.pixels.count), Double(bad) / Double(a.pixels.count))
}

private func goldenChart(shift: Double = 0) -> Canvas {
    let x = (1...10).map(Double.init)
    let chart = Chart(
        title: "Golden chart", x: Axis("epoch"), y: Axis("nats per image"),
        series: [
            Series(
                "test", color: Color.categorical[0], x: x, y: x.map { 100 / $0 + 20 + shift }, yError: x.map { _ in 2 },
                marker: 4),
            Series("train", color: Color.categorical[1], x: x, y: x.map { 110 / $0 + 18 }, dash: [6, 4]),
        ],
        guides: [Series("guide", color: Color(hex: 0xBBBBBB), x: [0, 12], y: [30, 90], lineWidth: 1, inLegend: false)])
    let canvas = Canvas(width: 480, height: 320)
    chart.draw(on: canvas, in: Rect(x: 0, y: 0, width: 480, height: 320))
    return canvas
}

@Suite("Charts with Cairo")
struct ChartTests {
    @Test func chartMatchesTheGoldenImage() throws {
        let image = goldenChart().pngImage()
        let path = goldenDirectory + "/chart.png"
        if ProcessInfo.processInfo.environment["VAELAB_UPDATE_GOLDEN"] == "1" { try PNG.write(image, to: path) }
        let golden = try PNG.read(path)
        let (mean, bad) = difference(image, golden)
        #expect(mean < 0.5, "mean pixel difference \(mean)")
        #expect(bad < 0.002, "share of pixels far off \(bad)")
        // The comparison notices a real change: the test series moved by 8 nats.
        let moved = difference(goldenChart(shift: 8).pngImage(), golden)
        #expect(moved.mean > 0.5 || moved.bad > 0.002)
    }

    @Test func sameInputsGiveSamePixels() {
        #expect(goldenChart().pngImage() == goldenChart().pngImage())
    }

    /// A title wider than its chart is set smaller: no ink at the canvas' left and right edges
    /// in the title band, and ink near the middle.
    @Test func aLongTitleFitsItsFrame() {
        let title = "Latent map of 10000 test images, by digit — vae d=2 H=256 β=1 cont. Bernoulli · seed 1"
        let chart = Chart(title: title, x: Axis("", range: 0...1), y: Axis("", range: 0...1), series: [], legend: .none)
        let canvas = Canvas(width: 600, height: 200)
        chart.draw(on: canvas, in: Rect(x: 0, y: 0, width: 600, height: 200))
        let img = canvas.pngImage()
        let band = (0..<24).flatMap { y in (0..<600).map { x in (x, Int(img.pixels[(y * 600 + x) * 3])) } }
        #expect(band.filter { $0.0 < 3 || $0.0 >= 597 }.allSatisfy { $0.1 > 200 })
        #expect(band.contains { (200..<400).contains($0.0) && $0.1 < 100 })
    }

    @Test func chartDrawsInkWhereTheDataAre() {
        // A single thick black line across the middle of an explicit 0...1 square.
        var chart = Chart(
            title: "", x: Axis("", range: 0...1), y: Axis("", range: 0...1),
            series: [Series("", color: .black, x: [0, 1], y: [0.5, 0.5], lineWidth: 4)], legend: .none)
        chart.fontScale = 1
        let canvas = Canvas(width: 300, height: 300)
        chart.draw(on: canvas, in: Rect(x: 0, y: 0, width: 300, height: 300))
        let img = canvas.pngImage()
        // Find the plot's vertical extent from the frame: the darkest row near the middle must be the line.
        let column = 200
        let rows = (40..<260).map { y in (y, Int(img.pixels[(y * 300 + column) * 3])) }
        let darkest = rows.min { $0.1 < $1.1 }!
        #expect(darkest.1 < 40)
        #expect(abs(Double(darkest.0) - 150) < 30)
    }

    /// A line through a single point (a one-epoch run's loss curve) is drawn as a dot, not left out.
    @Test func aLineThroughOnePointIsADot() {
        func darkestNearTheMiddle(_ series: Series) -> Int {
            let chart = Chart(
                title: "", x: Axis("", range: 0...1), y: Axis("", range: 0...1), series: [series], legend: .none)
            let canvas = Canvas(width: 300, height: 300)
            chart.draw(on: canvas, in: Rect(x: 0, y: 0, width: 300, height: 300))
            let img = canvas.pngImage()
            // The plot's middle lies near (165, 142): look at a 40-pixel square around it.
            return (122..<162).flatMap { y in (145..<185).map { x in Int(img.pixels[(y * 300 + x) * 3]) } }.min()!
        }
        #expect(darkestNearTheMiddle(Series("", color: .black, x: [0.5], y: [0.5], lineWidth: 2)) < 40)
        #expect(darkestNearTheMiddle(Series("", color: .black, x: [0.5], y: [0.5], lineWidth: 0)) > 200)
    }

    @Test func automaticLegendTakesTheEmptiestCorner() {
        let plot = Rect(x: 50, y: 30, width: 400, height: 300)
        func corner(_ pts: [(Double, Double)]) -> Chart.LegendPlace {
            Chart.legendCorner(plot: plot, width: 120, height: 50, avoiding: pts).place
        }
        #expect(corner([]) == .topRight)
        #expect(corner([(200, 300)]) == .topRight)  // data low in the middle
        #expect(corner([(430, 50)]) == .topLeft)  // a point under the top-right box
        #expect(corner([(430, 50), (80, 60)]) == .bottomRight)  // both top corners taken
        // Every corner covers something: the fewest wins, ties in the order TR, TL, BR, BL.
        #expect(corner([(430, 50), (420, 60), (80, 60), (440, 310), (60, 300), (70, 310)]) == .topLeft)
    }

    /// Two flat lines along the top and the bottom of the plot leave no free corner: the y range
    /// grows upward until the legend's band is empty; an explicit range, or a chart whose data
    /// leave a corner free, keep theirs.
    @Test func aLegendWithNoFreeCornerGetsHeadroom() {
        let canvas = Canvas(width: 480, height: 360)
        let frame = Rect(x: 0, y: 0, width: 480, height: 360)
        func chart(_ y: Axis, low: Double = 533) -> Chart {
            Chart(
                title: "", x: Axis("beta"), y: y,
                series: [
                    Series("train", color: .black, x: [0.5, 1], y: [540, 540], lineWidth: 2, marker: 4),
                    Series("test", color: .black, x: [0.5, 1], y: [low, low], lineWidth: 2, marker: 4),
                ])
        }
        func hidden(_ c: Chart) -> (covered: Int, top: Double) {
            let placed = c.legendPlacement(canvas, in: frame)!
            return (placed.covered, placed.yRange.upperBound)
        }
        let grown = hidden(chart(Axis("loss")))
        #expect(grown.covered == 0)
        #expect(grown.top > 541)
        let fixed = hidden(chart(Axis("loss", range: 532.5...540.5)))
        #expect(fixed.covered > 0 && fixed.top == 540.5)
        // A line from top left to bottom right leaves two corners free: the range stays as it was.
        let single = Chart(
            title: "", x: Axis("beta"), y: Axis("loss"),
            series: [Series("train", color: .black, x: [0.5, 1], y: [540, 530], lineWidth: 2, marker: 4)])
        #expect(single.legendPlacement(canvas, in: frame)!.yRange.upperBound < 541)
    }

    /// Labels of points that nearly coincide (a posterior collapsed at every beta) stack a line
    /// apart instead of printing over each other; labels of points apart stay up and right of them.
    @Test func pointLabelsOfCoincidingPointsDoNotOverlap() {
        let canvas = Canvas(width: 480, height: 360)
        let frame = Rect(x: 0, y: 0, width: 480, height: 360)
        func boxes(_ x: [Double], _ y: [Double]) -> [Rect] {
            Chart(
                title: "", x: Axis("rate", range: 0...1), y: Axis("distortion", range: 525...541),
                series: [Series("", color: .black, x: x, y: y, marker: 4, pointLabels: ["β=0.5", "β=1", "β=2"])],
                legend: .none
            ).pointLabelBoxes(canvas, in: frame)
        }
        func overlap(_ a: Rect, _ b: Rect) -> Bool {
            a.x < b.maxX && b.x < a.maxX && a.y < b.maxY && b.y < a.maxY
        }
        let stacked = boxes([0.0023, 0.0006, 0.001], [532.95, 532.96, 532.94])
        #expect(stacked.count == 3)
        #expect(
            !overlap(stacked[0], stacked[1]) && !overlap(stacked[0], stacked[2]) && !overlap(stacked[1], stacked[2]))
        #expect(stacked.map(\.y) == stacked.map(\.y).sorted())  // each a line below the one before
        // Apart, each label keeps its place by its point: higher and further right with the data.
        let apart = boxes([0.1, 0.5, 0.9], [530, 535, 540])
        #expect(apart[0].y > apart[1].y && apart[1].y > apart[2].y)
        #expect(apart[0].x < apart[1].x && apart[1].x < apart[2].x)
        #expect(abs((apart[0].y - apart[1].y) - (apart[1].y - apart[2].y)) < 1e-9)  // evenly, as the data
    }

    /// An automatic axis pads its data by 6 % of their span, but not below 0 when none is negative
    /// (a KL from 0.1 to 30 nats); data with negative values keep their room below.
    @Test func automaticAxesOfNonNegativeDataStartNoLowerThanZero() {
        let canvas = Canvas(width: 480, height: 360)
        func yRange(_ y: [Double]) -> ClosedRange<Double> {
            Chart(
                title: "", x: Axis("beta"), y: Axis("KL"),
                series: [Series("", color: .black, x: [1, 2], y: y, marker: 4)], legend: .none
            ).legendPlacement(canvas, in: Rect(x: 0, y: 0, width: 480, height: 360))!.yRange
        }
        #expect(yRange([0.1, 30]).lowerBound == 0)
        #expect(abs(yRange([10, 30]).lowerBound - 8.8) < 1e-9)
        #expect(abs(yRange([-1, 30]).lowerBound - (-2.86)) < 1e-9)
        #expect(yRange([0.002, 0.002]).lowerBound == 0)  // flat, near 0
    }

    @Test func niceTicksAndLabels() {
        #expect(Chart.niceTicks(0...10) == [0, 2, 4, 6, 8, 10])
        #expect(Chart.niceTicks(61.3...168.9).first == 80 || Chart.niceTicks(61.3...168.9).first == 70)
        #expect(Chart.format(2.5, step: 2.5) == "2.5")
        #expect(Chart.format(0.25, step: 0.25) == "0.25")
        #expect(Chart.format(140, step: 20) == "140")
        #expect(Chart.format(-0.0, step: 1) == "0")
        // Epochs: whole numbers, never 2.5 apart.
        #expect(Chart.niceTicks(0.88...3.12) == [1, 1.5, 2, 2.5, 3])
        #expect(Chart.niceTicks(0.88...3.12, minStep: 1) == [1, 2, 3])
        #expect(Chart.niceTicks(0.2...13.4, minStep: 1) == [5, 10])
        #expect(Chart.niceTicks(0...26.5, minStep: 1) == [0, 5, 10, 15, 20, 25])
    }

    @Test func imageGridPlacesEachImageInItsCell() {
        // Two 2x2 images: all white and all black, in one row.
        var grid = ImageGrid(
            title: "t", images: [1, 1, 1, 1, 0, 0, 0, 0], rows: 1, columns: 2, imageWidth: 2, imageHeight: 2)
        grid.cell = 20
        grid.gap = 4
        let img = grid.render().pngImage()
        let (w, h) = grid.size()
        #expect(img.width == Int(w) && img.height == Int(h))
        // Cells start 12 px in (no row labels) and 40 px down; centred when the title is wider.
        let left = (Double(img.width) - (2 * 20 + 4 + 24)) / 2 + 12
        func px(_ x: Double, _ y: Double) -> UInt8 { img.pixels[(Int(y) * img.width + Int(x)) * 3] }
        #expect(px(left + 10, 50) == 255)
        #expect(px(left + 34, 50) == 0)
    }
}

@Suite("PCA through LAPACK")
struct PCATests {
    @Test func axisAlignedCase() throws {
        let points: [Float] = [1, 0, -1, 0, 0, 0.5, 0, -0.5]
        let pca = try PCA(points: points, count: 4, dimension: 2)
        #expect(abs(pca.variances[0] - 2.0 / 3) < 1e-12)
        #expect(abs(pca.variances[1] - 0.5 / 3) < 1e-12)
        #expect(abs(pca.components[0][0] - 1) < 1e-12 && abs(pca.components[0][1]) < 1e-12)
        #expect(abs(abs(pca.components[1][1]) - 1) < 1e-12)
        #expect(abs(pca.explainedRatio[0] - 0.8) < 1e-12)
    }

    @Test func recoversAKnownDirection() throws {
        // t along u = (1, 2, 2)/3 with spread 3, s along v = (2, -2, 1)/3 with spread 0.5, plus an offset.
        let u: [Double] = [1.0 / 3, 2.0 / 3, 2.0 / 3]
        let v: [Double] = [2.0 / 3, -2.0 / 3, 1.0 / 3]
        var points: [Float] = []
        let n = 400
        for i in 0..<n {
            let t = 3 * sin(Double(i) * 0.7)
            let s = 0.5 * cos(Double(i) * 1.3)
            for k in 0..<3 { points.append(Float(5 + t * u[k] + s * v[k])) }
        }
        let pca = try PCA(points: points, count: n, dimension: 3)
        for k in 0..<3 { #expect(abs(pca.components[0][k] - u[k]) < 1e-2) }
        #expect(abs(abs(zip(pca.components[1], v).map(*).reduce(0, +)) - 1) < 1e-2)
        #expect(pca.variances[2] < 1e-6)
        #expect(abs(pca.explainedRatio.reduce(0, +) - 1) < 1e-12)
        let projected = pca.project(points, count: n, components: 2)
        // Projections are the centred t (its sample mean is small but not zero).
        #expect(abs(projected[0] - 3 * sin(0.0)) < 0.05)
        #expect(abs(projected[2] - 3 * sin(0.7)) < 0.05)
    }

    @Test func badInputIsATypedError() {
        #expect(throws: PCA.Failure.self) { try PCA(points: [1, 2], count: 1, dimension: 2) }
        #expect(throws: PCA.Failure.self) { try PCA(points: [1, .nan, 2, 3], count: 2, dimension: 2) }
    }
}
