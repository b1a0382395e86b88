import Datasets
import Models
import NeuralNet
import Testing
import Training

@Suite("Evaluation")
struct EvaluationTests {
    /// A seeded 8x8 VAE (or AE) and a split of `count` synthetic images (more than one batch).
    static func setUp(_ kind: ModelKind = .vae, count: Int = 150) -> (ConvAutoencoder, DatasetSplit) {
        let model = ConvAutoencoder(
            ModelConfig(kind: kind, latentDim: 3, hiddenUnits: 6, imageHeight: 8, imageWidth: 8))
        model.initialize(seed: 21)
        var rng = Xoshiro256(seed: 22)
        let images = (0..<(count * 64)).map { _ in rng.uniform() }
        let labels = (0..<count).map { UInt8($0 % 10) }
        return (model, DatasetSplit(images: images, labels: labels, count: count, rows: 8, cols: 8))
    }

    /// More importance samples give a tighter (lower) bound; it reports its progress per batch.
    @Test func iwaeBoundTightensWithSamplesAndReportsProgress() {
        let (model, split) = Self.setUp()
        var rng = Xoshiro256(seed: 1, stream: .eval)
        let single = Evaluation.nllBound(model, images: split, samples: 1, rng: &rng).mean
        var seen: [Int] = []
        let many = Evaluation.nllBound(model, images: split, samples: 40, rng: &rng) { done, count in
            #expect(count == 150)
            seen.append(done)
        }.mean
        #expect(many.isFinite && single.isFinite)
        #expect(many < single, "k = 40: \(many), k = 1: \(single)")
        #expect(seen == [128, 150])
    }

    /// Cut into a data-parallel step's slices (`train --threads`), every evaluation gives the
    /// serial values up to float rounding, and uses the same draws from the stream.
    @Test(arguments: [(ModelKind.vae, 2), (.vae, 3), (.ae, 2)])
    func slicedEvaluationMatchesSerial(_ kind: ModelKind, _ workers: Int) {
        let (model, split) = Self.setUp(kind)
        let parallel = DataParallelStep(model: model, workers: workers)
        var a = Xoshiro256(seed: 3, stream: .eval)
        var b = a
        let serial = Evaluation.losses(model, images: split, beta: 0.5, rng: &a)
        let sliced = Evaluation.losses(model, images: split, beta: 0.5, rng: &b, parallel: parallel)
        #expect(abs(serial.total - sliced.total) <= 1e-5 * serial.total)
        #expect(abs(serial.recon - sliced.recon) <= 1e-5 * serial.recon)
        #expect((serial.kl == nil) == (sliced.kl == nil))
        #expect(a.next() == b.next())
        let (mu, logVar) = Evaluation.latents(model, images: split)
        let (mu2, logVar2) = Evaluation.latents(model, images: split, parallel: parallel)
        #expect(zip(mu, mu2).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) })
        #expect(mu.count == 150 * 3 && mu2.count == mu.count && (logVar == nil) == (logVar2 == nil))
        if let logVar, let logVar2 {
            #expect(zip(logVar, logVar2).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) })
        }
        guard kind == .vae else { return }
        var c = Xoshiro256(seed: 4, stream: .eval)
        var d = c
        let nll = Evaluation.nllBound(model, images: split, samples: 5, rng: &c).mean
        let nll2 = Evaluation.nllBound(model, images: split, samples: 5, rng: &d, parallel: parallel).mean
        #expect(abs(nll - nll2) <= 1e-5 * nll)
    }
}
