import Datasets
import Experiments
import Figures
import Foundation
import NeuralNet
import Report
import Testing

/// Inputs that crashed a parser (found by fuzzing), kept so they stay fixed.
@Suite("Fuzz: regressions")
struct FuzzRegressionTests {
    /// An images file with zero images of 2^32-1 x 2^32-1 pixels: the total size (0) fits, so it
    /// was accepted, and `IDXArray.itemSize` then trapped on the overflowing product.
    @Test func idxZeroCountWithOverflowingItemSize() {
        let bytes = Corpus.idx(magic: IDXMagic.images, dimensions: [0, 0xFFFF_FFFF, 0xFFFF_FFFF], payload: [])
        #expect(throws: DatasetError.self) { _ = try parseIDX(bytes, path: "zero.idx", expectedMagic: IDXMagic.all) }
        // A zero count with sane dimensions is still an (empty) file.
        let empty = Corpus.idx(magic: IDXMagic.images, dimensions: [0, 28, 28], payload: [])
        let idx = try? parseIDX(empty, path: "empty.idx", expectedMagic: IDXMagic.all)
        #expect(idx?.count == 0 && idx?.itemSize == 784 && idx?.scaledFloats().isEmpty == true)
    }

    /// A 234-byte mutation of an encoder PNG whose second tEXt chunk declares 1,543,503,891 bytes:
    /// libpng allocated and zeroed 1.5 GB for it (2-6 s) before the read failed as truncated.
    @Test func pngChunkDeclaringMoreThanTheFile() throws {
        let found = try #require(
            Data(
                base64Encoded: """
                    iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAC3RFWHRUaXRsZQDOsiDDvAcvUzFcAA\
                    ATdEVYdHZhZWxhYi5ydW5faWQAdmFlLXiVjyBWAAAASURBVAjXY2Rg5eKHARYbGxsiOABq0gRVkJ0J\
                    EQAAAABJRU5ErkIAAAQIAgAAACaTCSkAAAAABAgCAAAAJpMJKQAAAAAECAIAAAAmkwkpAAAAAAQIAg\
                    AAACaTCSkAAAcAAAACAAAAJpMJKQAAAAAECAIAAAAmkwkpAAAAAAQIAgAAACaTCSkAAAAABAgCAAAA
                    """))
        // The same in miniature: a valid image with a tEXt chunk header claiming 2^31 - 1 bytes.
        let valid = PNGCorpus.encoded[0]
        let crafted = Array(valid[..<33]) + [0x7F, 0xFF, 0xFF, 0xFF] + Array("tEXt".utf8) + Array(valid[33...])
        for bytes in [[UInt8](found), crafted] {
            let started = monotonicNow()
            do {
                _ = try PNG.decode(bytes, file: "long-chunk.png")
                Issue.record("decoded")
            } catch let error as PNGError {
                #expect(error.message.hasPrefix("truncated PNG data"), "\(error.message)")
            }
            #expect(monotonicNow() - started < 0.5)
        }
    }

    /// A 70-byte PNG declaring 16384 x 16384 RGBA pixels: the decoder allocated the whole 1 GiB
    /// pixel buffer before libpng noticed that the data ran out (libFuzzer's malloc limit).
    @Test func pngHeaderDeclaringMoreThanItsDataHolds() {
        let bytes = PNGCorpus.craft(width: 16384, height: 16384, bitDepth: 8, colorType: 6, rows: [[1, 2, 3, 4]])
        #expect(bytes.count < 100)
        #expect(throws: PNGError(file: "big.png", message: "image size exceeds what the file's data can hold")) {
            _ = try PNG.decode(bytes, file: "big.png")
        }
        // Images at the limits of the bound still decode: 1-bit palette to RGBA (x32) ...
        let wide = PNGCorpus.craft(
            width: 4096, height: 1, bitDepth: 1, colorType: 3, rows: [[UInt8](repeating: 0b1010_1010, count: 512)],
            extra: [("PLTE", [0, 0, 0, 255, 255, 255]), ("tRNS", [0, 255])])
        let image = try? PNG.decode(wide)
        #expect(image?.channels == 4 && image?.pixels.count == 4096 * 4)
    }

    /// A spec whose unknown key contains a newline: the error stays one line.
    @Test func specErrorQuotingANewlineIsOneLine() {
        do {
            _ = try SpecParser.parse(Array(#"{"name": "x", "base": {"la\ntent": 2}}"#.utf8), file: "s.json")
            Issue.record("accepted an unknown key")
        } catch {
            #expect(!"\(error)".contains("\n") && "\(error)".contains("la\\ntent"), "\(error)")
        }
    }

    /// Means of -1e308 and 1e308: their difference overflows; `--format json` still renders.
    @Test func diffOfHugeMeansRendersAsJSON() throws {
        let a = Corpus.smallSummary.replacingOccurrences(of: #""mean":140.5"#, with: #""mean":-1e308"#)
        let b = Corpus.smallSummary.replacingOccurrences(of: #""mean":140.5"#, with: #""mean":1e308"#)
        let sa = try SummaryDiff.decode(Data(a.utf8), revision: "A", path: "a.json")
        let sb = try SummaryDiff.decode(Data(b.utf8), revision: "B", path: "b.json")
        let diff = SummaryDiff(a: sa, b: sb)
        let json = try diff.json(labelA: "A", labelB: "B")
        #expect(json.contains("vaelab.summary-diff/1"))
        #expect(!diff.text(labelA: "A", labelB: "B").isEmpty)
    }
}
