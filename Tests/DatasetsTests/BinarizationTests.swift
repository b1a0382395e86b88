import Datasets
import NeuralNet
import Testing

/// Dynamic binarisation: the evaluation images are the same for every run and keep the grey
/// levels' means; the training draws come from the run's own stream, anew every epoch.
@Suite("Binarisation")
struct BinarizationTests {
    static let grey: DatasetSplit = {
        var rng = Xoshiro256(seed: 3)
        let pixels = (0..<(200 * 16)).map { i in i % 16 == 0 ? 0 : i % 16 == 1 ? 255 : UInt8(rng.integer(below: 256)) }
        return DatasetSplit(
            pixels: pixels, labels: [UInt8](repeating: 0, count: 200), count: 200, rows: 4, cols: 4)
    }()

    @Test func evaluationImagesAreFixedBinaryAndUnbiased() {
        let a = Self.grey.binarizedForEvaluation()
        #expect(a.pixels == Self.grey.binarizedForEvaluation().pixels, "one fixed stream")
        #expect(a.pixels.allSatisfy { $0 == 0 || $0 == 255 })
        #expect((0..<200).allSatisfy { a.pixels[$0 * 16] == 0 && a.pixels[$0 * 16 + 1] == 255 })
        let greyMean = Self.grey.pixels.reduce(0.0) { $0 + Double($1) / 255 } / 3200
        let binaryMean = a.pixels.reduce(0.0) { $0 + Double($1) / 255 } / 3200
        #expect(abs(greyMean - binaryMean) < 4 * (0.25 / 3200).squareRoot())  // 4 standard errors
        #expect(Binarization.none.evaluationImages(Self.grey).pixels == Self.grey.pixels)
    }

    @Test func trainingDrawsFollowTheRunsStream() {
        let x = Self.grey.images
        func draw(_ rng: inout Xoshiro256) -> [Float] {
            var y = x
            y.withUnsafeMutableBufferPointer { Binarization.sample($0.baseAddress!, count: $0.count, rng: &rng) }
            return y
        }
        var (a, b, c) = (
            Xoshiro256(seed: 1, stream: .binarize), Xoshiro256(seed: 1, stream: .binarize),
            Xoshiro256(seed: 2, stream: .binarize)
        )
        let first = draw(&a)
        #expect(first == draw(&b), "same seed, same draws")
        #expect(first != draw(&c), "another seed, other draws")
        #expect(first != draw(&a), "the next epoch draws anew")
        #expect(first.allSatisfy { $0 == 0 || $0 == 1 })
    }

    /// The fingerprint records the binarisation: other data, so other run ids and no reuse.
    @Test func fingerprintRecordsTheBinarisation() {
        #expect(Binarization.none.fingerprint("abc") == "abc")
        let dynamic = Binarization.dynamic.fingerprint("abc")
        #expect(dynamic != "abc" && dynamic != Binarization.dynamic.fingerprint("abd") && dynamic.count == 64)
    }
}
