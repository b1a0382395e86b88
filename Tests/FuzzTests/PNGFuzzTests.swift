import Figures
import Foundation
import Testing

/// The PNG decoder (libpng behind a small C layer) on mutated images.
@Suite("Fuzz: PNG")
struct PNGFuzzTests {
    /// Deflate inflates at most 1032:1 and the decoder's conversions widen a pixel at most 32
    /// times (1-bit palette to RGBA): no valid PNG decodes to more than this.
    static func maximumPixelBytes(forInput count: Int) -> Int { count * 1032 * 32 + 65536 }

    @Test func pngDecode() throws {
        // The encoder's images decode to themselves.
        for bytes in PNGCorpus.encoded {
            let image = try PNG.decode(bytes)
            #expect(try PNG.encode(image) == bytes)
        }
        for (i, bytes) in PNGCorpus.crafted.enumerated() {
            #expect(throws: Never.self, "crafted PNG \(i) decodes") { _ = try PNG.decode(bytes) }
        }
        let corpus = PNGCorpus.all
        let tally = runFuzz(
            target: "png", corpus: corpus, json: false, mutator: Mutator(fixup: PNGCorpus.fixCRCs),
            classify: { error in
                guard let e = error as? PNGError else { return nil }
                #expect(e.file == "fuzz.png")
                return "PNGError"
            }
        ) { input in
            let image = try PNG.decode(input, file: "fuzz.png")
            #expect(
                image.width >= 1 && image.height >= 1 && (1...4).contains(image.channels), "\(describeInput(input))")
            #expect(image.pixels.count == image.width * image.height * image.channels)
            #expect(image.pixels.count <= Self.maximumPixelBytes(forInput: input.count), "\(describeInput(input))")
            if image.channels != 2 {
                // What decodes, encodes and decodes to the same pixels.
                let back = try PNG.decode(
                    PNG.encode(
                        PNGImage(
                            width: image.width, height: image.height, channels: image.channels,
                            pixels: image.pixels)))
                #expect(back.pixels == image.pixels)
            }
        }
        #expect(tally.accepted >= corpus.count)
    }
}
