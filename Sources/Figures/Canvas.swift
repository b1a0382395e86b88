import CCairo
import Foundation

/// An sRGB colour with components in [0, 1].
public struct Color: Equatable, Sendable {
    public var r, g, b, a: Double
    public init(_ r: Double, _ g: Double, _ b: Double, _ a: Double = 1) {
        (self.r, self.g, self.b, self.a) = (r, g, b, a)
    }
    public init(hex: UInt32, alpha: Double = 1) {
        self.init(Double((hex >> 16) & 0xFF) / 255, Double((hex >> 8) & 0xFF) / 255, Double(hex & 0xFF) / 255, alpha)
    }
    public func with(alpha: Double) -> Color { Color(r, g, b, alpha) }

    public static let black = Color(0, 0, 0)
    public static let white = Color(1, 1, 1)
    public static let text = Color(hex: 0x222222)
    public static let grid = Color(hex: 0xE3E3E3)
    public static let axis = Color(hex: 0x555555)

    /// Ten distinguishable colours (Matplotlib's "tab10"), one per digit class or series.
    public static let categorical: [Color] = [
        0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD, 0x8C564B, 0xE377C2, 0x7F7F7F, 0xBCBD22, 0x17BECF,
    ].map { Color(hex: $0) }
}

public struct Rect: Equatable, Sendable {
    public var x, y, width, height: Double
    public init(x: Double, y: Double, width: Double, height: Double) {
        (self.x, self.y, self.width, self.height) = (x, y, width, height)
    }
    public var maxX: Double { x + width }
    public var maxY: Double { y + height }
    public func inset(top: Double = 0, right: Double = 0, bottom: Double = 0, left: Double = 0) -> Rect {
        Rect(x: x + left, y: y + top, width: width - left - right, height: height - top - bottom)
    }
}

/// A white raster drawn with Cairo (anti-aliased, DejaVu Sans), turned into an RGB `PNGImage`.
public final class Canvas {
    public let width: Int
    public let height: Int
    let surface: OpaquePointer
    let cr: OpaquePointer
    public static let fontFamily = "DejaVu Sans"

    public init(width: Int, height: Int) {
        precondition(width > 0 && height > 0 && width <= 16384 && height <= 16384, "canvas size \(width)x\(height)")
        self.width = width
        self.height = height
        surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(width), Int32(height))
        cr = cairo_create(surface)
        // Hinting depends on font settings that vary between machines; keep glyph outlines exact.
        let options = cairo_font_options_create()
        cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE)
        cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF)
        cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY)
        cairo_set_font_options(cr, options)
        cairo_font_options_destroy(options)
        fill(Rect(x: 0, y: 0, width: Double(width), height: Double(height)), .white)
    }

    deinit {
        cairo_destroy(cr)
        cairo_surface_destroy(surface)
    }

    // MARK: Shapes

    public func fill(_ r: Rect, _ color: Color) {
        set(color)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_fill(cr)
    }

    public func stroke(_ r: Rect, _ color: Color, width: Double = 1) {
        set(color)
        cairo_set_line_width(cr, width)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_stroke(cr)
    }

    /// A polyline; `dash` gives on/off lengths.
    public func line(_ points: [(Double, Double)], _ color: Color, width: Double = 1.5, dash: [Double] = []) {
        guard points.count >= 2 else { return }
        set(color)
        cairo_set_line_width(cr, width)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND)
        dash.withUnsafeBufferPointer { cairo_set_dash(cr, $0.baseAddress, Int32(dash.count), 0) }
        cairo_move_to(cr, points[0].0, points[0].1)
        for p in points.dropFirst() { cairo_line_to(cr, p.0, p.1) }
        cairo_stroke(cr)
        cairo_set_dash(cr, nil, 0, 0)
    }

    public func circle(_ x: Double, _ y: Double, radius: Double, fill color: Color, outline: Color? = nil) {
        set(color)
        cairo_new_sub_path(cr)
        cairo_arc(cr, x, y, radius, 0, 2 * Double.pi)
        if let outline {
            cairo_fill_preserve(cr)
            set(outline)
            cairo_set_line_width(cr, 1)
            cairo_stroke(cr)
        } else {
            cairo_fill(cr)
        }
    }

    /// Keeps drawing inside `r` until `unclip()`.
    public func clip(_ r: Rect) {
        cairo_save(cr)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_clip(cr)
    }

    public func unclip() { cairo_restore(cr) }

    // MARK: Text

    public enum Anchor { case left, center, right }

    /// Draws `string` with its baseline at `y`; returns its advance width. `rotated` turns it a
    /// quarter counter-clockwise about (x, y) (for y-axis labels).
    @discardableResult
    public func text(
        _ string: String, x: Double, y: Double, size: Double, color: Color = .text,
        anchor: Anchor = .left, bold: Bool = false, rotated: Bool = false
    ) -> Double {
        font(size: size, bold: bold)
        let w = textWidth(string, size: size, bold: bold)
        let dx: Double = anchor == .left ? 0 : anchor == .center ? -w / 2 : -w
        set(color)
        cairo_save(cr)
        cairo_translate(cr, x, y)
        if rotated { cairo_rotate(cr, -Double.pi / 2) }
        cairo_move_to(cr, dx, 0)
        cairo_show_text(cr, string)
        cairo_restore(cr)
        return w
    }

    public func textWidth(_ string: String, size: Double, bold: Bool = false) -> Double {
        font(size: size, bold: bold)
        var extents = cairo_text_extents_t()
        cairo_text_extents(cr, string, &extents)
        return extents.x_advance
    }

    /// The width text would take on any canvas: for sizing a canvas before it exists (on a
    /// canvas of its own, so that threads drawing figures side by side share nothing).
    public static func textWidth(_ string: String, size: Double, bold: Bool = false) -> Double {
        Canvas(width: 1, height: 1).textWidth(string, size: size, bold: bold)
    }

    private func font(size: Double, bold: Bool) {
        cairo_select_font_face(
            cr, Canvas.fontFamily, CAIRO_FONT_SLANT_NORMAL,
            bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(cr, size)
    }

    // MARK: Images

    /// Draws a grayscale image (values in [0, 1], 1 = white ink on black as MNIST is stored,
    /// shown inverted as dark ink on white when `inverted`) scaled into `r` without smoothing.
    public func grayscale(_ values: [Float], width w: Int, height h: Int, in r: Rect, inverted: Bool = true) {
        precondition(values.count == w * h)
        let stride = Int(cairo_format_stride_for_width(CAIRO_FORMAT_RGB24, Int32(w)))
        let image = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(w), Int32(h))!
        defer { cairo_surface_destroy(image) }
        cairo_surface_flush(image)
        let data = cairo_image_surface_get_data(image)!
        data.withMemoryRebound(to: UInt32.self, capacity: stride / 4 * h) { px in
            for y in 0..<h {
                for x in 0..<w {
                    var v = min(max(values[y * w + x], 0), 1)
                    if inverted { v = 1 - v }
                    let g = UInt32((v * 255).rounded())
                    px[y * stride / 4 + x] = (g << 16) | (g << 8) | g
                }
            }
        }
        cairo_surface_mark_dirty(image)
        cairo_save(cr)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_clip(cr)
        cairo_translate(cr, r.x, r.y)
        cairo_scale(cr, r.width / Double(w), r.height / Double(h))
        cairo_set_source_surface(cr, image, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST)
        cairo_paint(cr)
        cairo_restore(cr)
    }

    /// Draws an RGB or gray `PNGImage` scaled into `r`.
    public func image(_ img: PNGImage, in r: Rect) {
        let stride = Int(cairo_format_stride_for_width(CAIRO_FORMAT_RGB24, Int32(img.width)))
        let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(img.width), Int32(img.height))!
        defer { cairo_surface_destroy(surface) }
        cairo_surface_flush(surface)
        let data = cairo_image_surface_get_data(surface)!
        data.withMemoryRebound(to: UInt32.self, capacity: stride / 4 * img.height) { px in
            for y in 0..<img.height {
                for x in 0..<img.width {
                    let i = (y * img.width + x) * img.channels
                    let (r, g, b): (UInt32, UInt32, UInt32) =
                        img.channels >= 3
                        ? (UInt32(img.pixels[i]), UInt32(img.pixels[i + 1]), UInt32(img.pixels[i + 2]))
                        : (UInt32(img.pixels[i]), UInt32(img.pixels[i]), UInt32(img.pixels[i]))
                    px[y * stride / 4 + x] = (r << 16) | (g << 8) | b
                }
            }
        }
        cairo_surface_mark_dirty(surface)
        cairo_save(cr)
        cairo_translate(cr, r.x, r.y)
        cairo_scale(cr, r.width / Double(img.width), r.height / Double(img.height))
        cairo_set_source_surface(cr, surface, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD)
        cairo_paint(cr)
        cairo_restore(cr)
    }

    // MARK: Output

    /// The canvas as an 8-bit RGB image carrying `text` chunks.
    public func pngImage(text: [String: String] = [:]) -> PNGImage {
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        let data = cairo_image_surface_get_data(surface)!
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        data.withMemoryRebound(to: UInt32.self, capacity: stride / 4 * height) { px in
            for y in 0..<height {
                for x in 0..<width {
                    // Premultiplied ARGB over white: everything drawn sits on the opaque background.
                    let v = px[y * stride / 4 + x]
                    let o = (y * width + x) * 3
                    rgb[o] = UInt8((v >> 16) & 0xFF)
                    rgb[o + 1] = UInt8((v >> 8) & 0xFF)
                    rgb[o + 2] = UInt8(v & 0xFF)
                }
            }
        }
        return PNGImage(width: width, height: height, channels: 3, pixels: rgb, text: text)
    }

    private func set(_ c: Color) {
        if c.a >= 1 { cairo_set_source_rgb(cr, c.r, c.g, c.b) } else { cairo_set_source_rgba(cr, c.r, c.g, c.b, c.a) }
    }
}
