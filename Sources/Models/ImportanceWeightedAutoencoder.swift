import NeuralNet

#if canImport(Glibc)
    import Glibc
#endif

/// The importance-weighted autoencoder (Burda, Grosse & Salakhutdinov, ICLR 2016): the VAE's
/// encoder and decoder (`Autoencoder`, the same parameters and initial weights) trained on the
/// k-sample bound instead of the ELBO. Per image x, with z_s = mu + e^(logvar/2) * eps_s,
/// s = 1...k (k = `config.trainSamples`):
///
///     log w_s = log p(x|z_s) + log p(z_s) - log q(z_s|x)
///             = -nll_s - sum_j z_sj²/2 + sum_j (eps_sj²/2 + logvar_j/2)    (the 2π terms cancel)
///     loss    = -log (1/k) sum_s w_s   (log-sum-exp), mean over images
///     d loss  = sum_s w^_s d(-log w_s), w^ = softmax_s(log w)   (the normalised weights)
///
/// k = 1 is the VAE's ELBO with its KL estimated from the sample (log q - log p) rather than in
/// closed form. Evaluation (test ELBO, NLL bound, latents) is the VAE's: one z per image.
/// The k codes of a batch of N are decoded as one batch of N·k rows, image-major (row i·k + s).
public final class ImportanceWeightedAutoencoder<Network: AutoencoderNetwork>: AutoencoderModel {
    /// The encoder, latent heads and decoder: a VAE of the same configuration.
    public let vae: Autoencoder<Network>
    public var config: ModelConfig { vae.config }
    public var store: ParameterStore { vae.store }
    public var hasPosterior: Bool { true }
    public var noisePerImage: Int { config.trainSamples * config.latentDim }

    // Step buffers: [N·k, d] unless noted.
    private let eps = Tensor(zeros: [0])
    private let z = Tensor(zeros: [0])
    private let targets = Tensor(zeros: [0])  // [N·k, 1, H, W]: each image k times
    private let gradLogits = Tensor(zeros: [0])  // [N·k, 1, H, W]
    private let gradMu = Tensor(zeros: [0])  // [N, d]
    private let gradLogVar = Tensor(zeros: [0])  // [N, d]
    private var nll: [Double] = []  // [N·k]
    private var weights: [Double] = []  // [N·k], w^
    private var logW: [Double] = []  // [k], one image's log w

    public init(_ config: ModelConfig) {
        precondition(config.kind.hasPosterior, "an IWAE has a posterior")
        vae = Autoencoder(config)
    }

    public func makeReplica() -> any AutoencoderModel { ImportanceWeightedAutoencoder(config) }
    public func initialize(seed: UInt64) { vae.initialize(seed: seed) }
    public func setProfiler(_ profiler: Profiler?) { vae.setProfiler(profiler) }
    public func freezeWeights(_ frozen: Bool) { vae.freezeWeights(frozen) }
    public func encode(_ x: Tensor) -> (mu: Tensor, logVar: Tensor?) { vae.encode(x) }
    public func decode(_ z: Tensor) -> Tensor { vae.decode(z) }

    public func evaluate(
        _ x: Tensor, beta: Float, noise: inout Xoshiro256, recon: UnsafeMutablePointer<Double>,
        kl: UnsafeMutablePointer<Double>
    ) { vae.evaluate(x, beta: beta, noise: &noise, recon: recon, kl: kl) }

    public func evaluate(
        _ x: Tensor, beta: Float, eps: UnsafePointer<Float>?, recon: UnsafeMutablePointer<Double>,
        kl: UnsafeMutablePointer<Double>
    ) { vae.evaluate(x, beta: beta, eps: eps, recon: recon, kl: kl) }

    public func flops(batch n: Int, decoderRows: Int) -> (forward: Int, trainingStep: Int) {
        vae.flops(batch: n, decoderRows: decoderRows)
    }

    // MARK: - Training

    /// Draws the batch's k·d noise values per image, then the step. `beta` must be 1 (the bound
    /// has no KL weight; `RunConfig` refuses others).
    public func forwardBackward(_ x: Tensor, beta: Float, noise: inout Xoshiro256) -> LossParts {
        eps.resize([x.shape[0] * config.trainSamples, config.latentDim])
        noise.fillNormal(eps.buffer)
        return step(x, gradientBatch: x.shape[0])
    }

    public func forwardBackward(_ x: Tensor, beta: Float, eps noise: UnsafePointer<Float>?, gradientBatch: Int)
        -> LossParts
    {
        guard let noise else { preconditionFailure("an IWAE needs the noise of its rows") }
        eps.resize([x.shape[0] * config.trainSamples, config.latentDim])
        eps.data.update(from: noise, count: eps.count)
        return step(x, gradientBatch: gradientBatch)
    }

    /// Loss parts: total = the bound; recon = sum_s w^_s nll_s; kl = total - recon (the sample's
    /// log q - log p at k = 1).
    private func step(_ x: Tensor, gradientBatch: Int) -> LossParts {
        let (n, k) = (x.shape[0], config.trainSamples)
        let hidden = vae.encoder.forward(x)
        let mu = vae.zMean.forward(hidden)
        let logVar = vae.zLogVar!.forward(hidden)
        decodeSamples(x, mu: mu, logVar: logVar)
        var (total, recon) = (0.0, 0.0)
        resize(&weights, n * k)
        for i in 0..<n {
            let loss = weigh(image: i, logVar: logVar)
            total += loss
            for r in (i * k)..<(i * k + k) { recon += weights[r] * nll[r] }
        }
        // d loss / d logits of row r = w^_r / B * d nll_r / d logits.
        let pixels = config.pixels
        for r in 0..<(n * k) {
            let scale = Float(weights[r] / Double(gradientBatch))
            let g = gradLogits.data + r * pixels
            for p in 0..<pixels { g[p] *= scale }
        }
        let dz = vae.decoder.backward(gradLogits)
        _ = vae.encoder.backward(backwardToHidden(dz, mu: mu, logVar: logVar, gradientBatch: gradientBatch))
        return LossParts(recon: recon / Double(n), kl: (total - recon) / Double(n), total: total / Double(n))
    }

    /// z = mu + e^(logvar/2) * eps for every (image, sample) row, decoded; `nll` and
    /// `gradLogits` get each row's -log p(x|z) and its logit gradient (unscaled).
    private func decodeSamples(_ x: Tensor, mu: Tensor, logVar: Tensor) {
        let (n, k, d, pixels) = (x.shape[0], config.trainSamples, config.latentDim, config.pixels)
        z.resize([n * k, d])
        targets.resize([n * k] + x.shape.dropFirst())
        for i in 0..<n {
            for s in 0..<k {
                let r = i * k + s
                Loss.reparameterize(
                    mu: mu.data + i * d, logVar: logVar.data + i * d, eps: eps.data + r * d, into: z.data + r * d,
                    count: d)
                (targets.data + r * pixels).update(from: x.data + i * pixels, count: pixels)
            }
        }
        let logits = vae.decoder.forward(z)
        gradLogits.resize(logits.shape)
        resize(&nll, n * k)
        config.likelihood.negativeLogLikelihood(
            logits: logits.data, targets: targets.data, batch: n * k, perImage: pixels, perImageLoss: &nll,
            gradient: gradLogits.data)
    }

    /// Image i's bound -log (1/k) sum_s w_s by log-sum-exp, its normalised weights into `weights`.
    private func weigh(image i: Int, logVar: Tensor) -> Double {
        let (k, d) = (config.trainSamples, config.latentDim)
        resize(&logW, k)
        for s in 0..<k {
            let r = i * k + s
            let ratio = Loss.logPriorOverPosterior(
                z: z.data + r * d, eps: eps.data + r * d, logVar: logVar.data + i * d, dimensions: d)
            logW[s] = -nll[r] + ratio
        }
        let top = logW.max()!
        let sum = logW.reduce(0.0) { $0 + exp($1 - top) }
        for s in 0..<k { weights[i * k + s] = exp(logW[s] - top) / sum }
        return -(top + log(sum) - log(Double(k)))
    }

    /// A step buffer of `count` values, reallocated only when the batch's size changes (every
    /// value is written before it is read).
    private func resize(_ buffer: inout [Double], _ count: Int) {
        if buffer.count != count { buffer = [Double](repeating: 0, count: count) }
    }

    /// From dz [N·k, d] (already weighted) to the hidden layer's gradient, through the heads:
    /// per row dz + w^/B * z (the prior term), then the reparameterisation; -1/(2B) per logvar
    /// from the -logvar/2 in -log w (the weights of an image sum to 1).
    private func backwardToHidden(_ dz: Tensor, mu: Tensor, logVar: Tensor, gradientBatch: Int) -> Tensor {
        let (n, k, d) = (mu.shape[0], config.trainSamples, config.latentDim)
        let invB = 1 / Double(gradientBatch)
        gradMu.resize([n, d])
        gradLogVar.resize([n, d])
        for i in 0..<n {
            for j in 0..<d {
                let sigma = exp(0.5 * Double(logVar.data[i * d + j]))
                var (gm, glv) = (0.0, -0.5 * invB)
                for s in 0..<k {
                    let r = (i * k + s) * d + j
                    let g = Double(dz.data[r]) + weights[i * k + s] * invB * Double(z.data[r])
                    gm += g
                    glv += g * Double(eps.data[r]) * 0.5 * sigma
                }
                gradMu.data[i * d + j] = Float(gm)
                gradLogVar.data[i * d + j] = Float(glv)
            }
        }
        return vae.headsBackward(gradMu: gradMu, gradLogVar: gradLogVar, through: vae.zLogVar!)
    }
}
