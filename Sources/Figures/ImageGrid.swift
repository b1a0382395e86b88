/// A titled grid of small grayscale images (digits), white ink on black tiles as MNIST stores
/// them, with optional row labels on the left and column labels on top.
public struct ImageGrid: Sendable {
    public var title: String
    /// A second, smaller heading line (e.g. which run).
    public var subtitle = ""
    /// Row-major: image (r, c) is `images[(r * columns + c) * imageWidth * imageHeight ...]`.
    public var images: [Float]
    public var rows: Int
    public var columns: Int
    public var imageWidth = 28
    public var imageHeight = 28
    public var rowLabels: [String] = []
    public var columnLabels: [String] = []
    /// Size of one tile in pixels and the gap between tiles.
    public var cell: Double = 42
    public var gap: Double = 3
    /// Axis notes under and left of the grid (e.g. "z₁ →").
    public var xNote = ""
    public var yNote = ""

    public init(title: String, images: [Float], rows: Int, columns: Int, imageWidth: Int = 28, imageHeight: Int = 28) {
        precondition(
            images.count == rows * columns * imageWidth * imageHeight,
            "image grid: \(images.count) values for \(rows)x\(columns) images")
        self.title = title
        self.images = images
        self.rows = rows
        self.columns = columns
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
    }

    /// The size the grid needs.
    public func size(measuring canvas: Canvas? = nil) -> (width: Double, height: Double) {
        let c = canvas ?? Canvas(width: 8, height: 8)
        let labelWidth = rowLabelWidth(c)
        let content = labelWidth + Double(columns) * cell + Double(columns - 1) * gap + 24 + (yNote.isEmpty ? 0 : 22)
        let w = max(content, c.textWidth(title, size: 15, bold: true) + 24, c.textWidth(subtitle, size: 12) + 24)
        let h =
            headerHeight + (columnLabels.isEmpty ? 0 : 20) + Double(rows) * cell + Double(rows - 1) * gap + 14
            + (xNote.isEmpty ? 0 : 22)
        return (w.rounded(.up), h.rounded(.up))
    }

    private var headerHeight: Double { subtitle.isEmpty ? 40 : 58 }

    private func rowLabelWidth(_ c: Canvas) -> Double {
        guard !rowLabels.isEmpty else { return 0 }
        return (rowLabels.map { c.textWidth($0, size: 13) }.max() ?? 0) + 12
    }

    private func contentWidth(_ c: Canvas) -> Double {
        rowLabelWidth(c) + Double(columns) * cell + Double(columns - 1) * gap + 24 + (yNote.isEmpty ? 0 : 22)
    }

    /// A canvas of exactly the grid's size with the grid drawn on it.
    public func render() -> Canvas {
        let (w, h) = size()
        let canvas = Canvas(width: Int(w), height: Int(h))
        draw(on: canvas, at: (0, 0))
        return canvas
    }

    public func draw(on canvas: Canvas, at origin: (x: Double, y: Double)) {
        let (w, _) = size(measuring: canvas)
        canvas.text(title, x: origin.x + w / 2, y: origin.y + 24, size: 15, anchor: .center, bold: true)
        if !subtitle.isEmpty {
            canvas.text(subtitle, x: origin.x + w / 2, y: origin.y + 44, size: 12, color: .axis, anchor: .center)
        }
        // The grid is centred when the headings are wider than it.
        let left = origin.x + (w - contentWidth(canvas)) / 2 + 12 + rowLabelWidth(canvas) + (yNote.isEmpty ? 0 : 22)
        var top = origin.y + headerHeight
        if !columnLabels.isEmpty {
            for (c, label) in columnLabels.enumerated() where c < columns {
                canvas.text(
                    label, x: left + Double(c) * (cell + gap) + cell / 2, y: top + 12, size: 11.5, color: .axis,
                    anchor: .center)
            }
            top += 20
        }
        let pixels = imageWidth * imageHeight
        for r in 0..<rows {
            let y = top + Double(r) * (cell + gap)
            if r < rowLabels.count {
                canvas.text(rowLabels[r], x: left - 8, y: y + cell / 2 + 4.5, size: 13, anchor: .right)
            }
            for c in 0..<columns {
                let start = (r * columns + c) * pixels
                canvas.grayscale(
                    Array(images[start..<(start + pixels)]), width: imageWidth, height: imageHeight,
                    in: Rect(x: left + Double(c) * (cell + gap), y: y, width: cell, height: cell), inverted: false)
            }
        }
        let gridWidth = Double(columns) * cell + Double(columns - 1) * gap
        let gridHeight = Double(rows) * cell + Double(rows - 1) * gap
        if !xNote.isEmpty {
            canvas.text(xNote, x: left + gridWidth / 2, y: top + gridHeight + 22, size: 13, anchor: .center)
        }
        if !yNote.isEmpty {
            canvas.text(
                yNote, x: left - 10 - rowLabelWidth(canvas), y: top + gridHeight / 2, size: 13, anchor: .center,
                rotated: true)
        }
    }
}
