import Foundation
import Models
import NeuralNet
import Testing

/// The IWAE: its gradient through the normalised weights, its k = 1 case against the VAE's ELBO,
/// and its k-sample bound against a direct computation with the VAE's own encoder and decoder.
@Suite("Importance-weighted autoencoder")
struct ImportanceWeightedTests {
    static func model(samples k: Int, likelihood: Likelihood = .bernoulli) -> any AutoencoderModel {
        ModelRegistry.make(
            ModelConfig(
                kind: .iwae, latentDim: 3, hiddenUnits: 5, imageHeight: 8, imageWidth: 8, trainSamples: k,
                likelihood: likelihood))
    }

    /// Images [n, 1, 8, 8] and noise [n, k, d], seeded.
    static func batch(_ n: Int, samples k: Int) -> (x: Tensor, eps: [Float]) {
        var rng = Xoshiro256(seed: 21)
        let x = Tensor(zeros: [n, 1, 8, 8])
        for i in 0..<x.count { x.data[i] = rng.uniform() }
        return (x, (0..<(n * k * 3)).map { _ in rng.normal() })
    }

    @Test(arguments: [(1, Likelihood.bernoulli), (3, .bernoulli), (4, .continuousBernoulli)])
    func gradientsMatchFiniteDifferences(_ k: Int, _ likelihood: Likelihood) {
        checkWholeModelGradients(Self.model(samples: k, likelihood: likelihood), beta: 1)
    }

    /// -log p(x|z) per image of `vae` at z = mu + sigma * eps (`eps` [n, d]), and the sample's
    /// log q(z|x) - log p(z).
    static func sampled(_ vae: ConvAutoencoder, _ x: Tensor, eps: [Float]) -> (nll: [Double], logRatio: [Double]) {
        let (n, d) = (x.shape[0], 3)
        let (mu, logVar) = vae.encode(x)
        let (m, lv) = (mu.array, logVar!.array)
        let z = Tensor(shape: [n, d], values: (0..<(n * d)).map { m[$0] + expf(0.5 * lv[$0]) * eps[$0] })
        let logits = vae.decode(z)
        var nll = [Double](repeating: 0, count: n)
        vae.config.likelihood.negativeLogLikelihood(
            logits: logits.data, targets: x.data, batch: n, perImage: 64, perImageLoss: &nll)
        let ratio = (0..<n).map { i in
            (0..<d).reduce(0.0) { acc, j in
                let (e, zz, v) = (Double(eps[i * d + j]), Double(z.data[i * d + j]), Double(lv[i * d + j]))
                return acc - 0.5 * e * e - 0.5 * v + 0.5 * zz * zz
            }
        }
        return (nll, ratio)
    }

    /// k = 1 is the VAE's ELBO: the same recon from the same z, and a KL estimated from the
    /// sample (log q - log p) whose mean over draws is the VAE's closed form.
    @Test func oneSampleIsTheVAEsELBO() throws {
        let iwae = try #require(Self.model(samples: 1) as? ImportanceWeightedAutoencoder<ConvNetwork>)
        iwae.initialize(seed: 5)
        let (x, eps) = Self.batch(4, samples: 1)
        let parts = iwae.forwardBackward(x, beta: 1, eps: eps, gradientBatch: 4)
        let vae = iwae.vae
        let vaeParts = vae.forwardBackward(x, beta: 1, eps: eps, gradientBatch: 4)
        #expect(abs(parts.recon - vaeParts.recon) <= 1e-9 * abs(vaeParts.recon))
        let (nll, ratio) = Self.sampled(vae, x, eps: eps)
        let elbo = zip(nll, ratio).reduce(0.0) { $0 + $1.0 + $1.1 } / 4
        #expect(abs(parts.total - elbo) <= 1e-5 * abs(elbo), "IWAE \(parts.total) vs ELBO \(elbo)")
        // The sampled KL's mean over 4000 draws is the closed form, within 4 standard errors.
        var rng = Xoshiro256(seed: 9)
        var draws: [Double] = []
        for _ in 0..<1000 {
            let e = (0..<12).map { _ in rng.normal() }
            draws += Self.sampled(vae, x, eps: e).logRatio
        }
        let mean = draws.reduce(0, +) / Double(draws.count)
        let sd = (draws.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(draws.count - 1)).squareRoot()
        let tolerance = 4 * sd / Double(draws.count).squareRoot()
        #expect(abs(mean - vaeParts.kl) < tolerance, "sampled KL \(mean) vs closed form \(vaeParts.kl)")
    }

    /// The k-sample loss is -log (1/k) Σ_s exp(-nll_s - log q/p_s), mean over images.
    @Test func boundMatchesADirectComputation() throws {
        let (n, k) = (3, 5)
        let iwae = try #require(Self.model(samples: k) as? ImportanceWeightedAutoencoder<ConvNetwork>)
        iwae.initialize(seed: 6)
        let (x, eps) = Self.batch(n, samples: k)
        let parts = iwae.forwardBackward(x, beta: 1, eps: eps, gradientBatch: n)
        var logW = [[Double]](repeating: [], count: n)
        for s in 0..<k {
            // The s-th sample of every image: rows i·k + s of the noise.
            var e: [Float] = []
            for i in 0..<n {
                let row = (i * k + s) * 3
                e += eps[row..<(row + 3)]
            }
            let (nll, ratio) = Self.sampled(iwae.vae, x, eps: e)
            for i in 0..<n { logW[i].append(-nll[i] - ratio[i]) }
        }
        var bound = 0.0
        for w in logW { bound -= log(w.reduce(0.0) { $0 + exp($1) } / Double(k)) / Double(n) }
        #expect(abs(parts.total - bound) <= 1e-5 * abs(bound), "\(parts.total) vs \(bound)")
        #expect(parts.total < parts.recon + parts.kl + 1e-9 && parts.total > parts.recon + parts.kl - 1e-9)
    }

    /// A data-parallel step (two slices, each with its images' k samples of noise) gives the
    /// serial step's losses and update to rounding.
    @Test func dataParallelStepMatchesTheSerialOne() {
        let (serial, split) = (Self.model(samples: 3), Self.model(samples: 3))
        serial.initialize(seed: 7)
        split.initialize(seed: 7)
        let (x, _) = Self.batch(6, samples: 3)
        let (a, b) = (Adam(count: serial.parameterCount), Adam(count: split.parameterCount))
        var (r1, r2) = (Xoshiro256(seed: 8), Xoshiro256(seed: 8))
        let p1 = serial.trainStep(x, beta: 1, noise: &r1, optimizer: a)
        let p2 = DataParallelStep(model: split, workers: 2).trainStep(x, beta: 1, noise: &r2, optimizer: b)
        #expect(abs(p1.total - p2.total) <= 1e-5 * abs(p1.total))
        let w1 = Array(UnsafeBufferPointer(start: serial.store.values, count: serial.store.count))
        let w2 = Array(UnsafeBufferPointer(start: split.store.values, count: split.store.count))
        // Adam's first step is ±lr where a gradient is near 0, whatever its rounding: most agree.
        #expect(zip(w1, w2).filter { abs($0 - $1) <= 1e-6 }.count >= w1.count * 99 / 100)
    }
}
