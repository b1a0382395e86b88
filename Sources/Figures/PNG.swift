import Foundation
import NeuralNet
import PNGCodec
import Support

/// An 8-bit image: `channels` (1 gray, 3 RGB, 4 RGBA) bytes per pixel, rows top to bottom, and
/// the PNG text chunks it carries.
public struct PNGImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]
    public var text: [String: String]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8], text: [String: String] = [:]) {
        precondition(
            pixels.count == width * height * channels, "pixel buffer does not match \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
        self.text = text
    }
}

/// A PNG that cannot be encoded, decoded or read.
public struct PNGError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let message: String
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { file.isEmpty ? message : "\(file): \(message)" }
}

/// PNG encoding and decoding through libpng (8-bit, text chunks in key order, fixed zlib
/// level, no time chunk: the same image gives the same bytes).
public enum PNG {
    public static func encode(_ image: PNGImage) throws -> [UInt8] {
        var error = [CChar](repeating: 0, count: 256)
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        let entries = image.text.sorted { $0.key < $1.key }
        for (key, _) in entries where key.isEmpty || key.utf8.count > 79 {
            throw PNGError(file: "", message: "text chunk key '\(key)' must have 1 to 79 bytes")
        }
        let keys = entries.map { strdup($0.key) }
        let values = entries.map { strdup($0.value) }
        defer { (keys + values).forEach { free($0) } }
        let texts = zip(keys, values).map { vaelab_png_text(key: $0, text: $1) }
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            texts.withUnsafeBufferPointer { texts in
                vaelab_png_encode(
                    pixels.baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.channels),
                    texts.baseAddress, Int32(texts.count), &out, &size, &error, error.count)
            }
        }
        guard status == 0, let out else { throw PNGError(file: "", message: cString(error)) }
        defer { vaelab_png_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    public static func decode(_ bytes: [UInt8], file: String = "") throws -> PNGImage {
        var error = [CChar](repeating: 0, count: 256)
        var raw = vaelab_png_image()
        let status = bytes.withUnsafeBufferPointer {
            vaelab_png_decode($0.baseAddress, $0.count, &raw, &error, error.count)
        }
        guard status == 0 else { throw PNGError(file: file, message: cString(error)) }
        defer { vaelab_png_image_free(&raw) }
        let count = Int(raw.width) * Int(raw.height) * Int(raw.channels)
        var text: [String: String] = [:]
        for i in 0..<Int(raw.text_count) {
            text[String(cString: raw.keys[i]!)] = String(cString: raw.texts[i]!)
        }
        return PNGImage(
            width: Int(raw.width), height: Int(raw.height), channels: Int(raw.channels),
            pixels: Array(UnsafeBufferPointer(start: raw.pixels, count: count)), text: text)
    }

    private static func cString(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes atomically (a temporary file renamed into place): a reader never sees half a PNG.
    public static func write(_ image: PNGImage, to path: String) throws {
        let bytes: [UInt8]
        do { bytes = try encode(image) } catch let e as PNGError { throw PNGError(file: path, message: e.message) }
        try AtomicFile.write(bytes, to: path)
    }

    public static func read(_ path: String) throws -> PNGImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PNGError(file: path, message: "cannot read the file")
        }
        return try decode([UInt8](data), file: path)
    }
}
