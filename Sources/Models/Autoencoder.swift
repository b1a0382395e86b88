import NeuralNet

/// The layers of one architecture: an encoder body from images x [N, 1, H, W] to a hidden
/// layer [N, hidden_units], and a decoder from codes z [N, d] to logits [N, 1, H, W].
/// `Autoencoder` adds the latent heads (the posterior's mean and log-variance, or the AE's
/// code) and the losses, so an architecture is only its layers.
public protocol AutoencoderNetwork {
    /// The architecture in one paragraph, for the report's methods (H and d are the run's).
    static var architecture: String { get }
    static func encoder(_ config: ModelConfig) -> Sequential
    static func decoder(_ config: ModelConfig) -> Sequential
}

/// A VAE (a Gaussian posterior, noise, a KL term) or an AE (a deterministic code) on the layers
/// of `Network`:
///
///     hidden = encoder(x)                                          [N, H]
///     mu = z_mean(hidden), logvar = z_log_var(hidden) (VAE)       [N, d]; the AE's code z(hidden)
///     z = mu + exp(logvar / 2) * eps                              (VAE only)
///     logits = decoder(z)                                          [N, 1, H, W]
///     loss = -log p(x|z) summed over pixels + beta * KL(q(z|x) || N(0, I)), mean over images
///     (p: `config.likelihood`, Bernoulli BCE(logits, x) or the continuous Bernoulli)
///
/// Parameters live in one contiguous `ParameterStore`; their names (`encoder.conv1.weight`, ...)
/// are the checkpoint's tensor names. All buffers are allocated on first use and reused.
public final class Autoencoder<Network: AutoencoderNetwork>: AutoencoderModel {
    public let config: ModelConfig
    public let encoder: Sequential
    /// The mean head (VAE) or the code head (AE).
    public let zMean: Dense
    public let zLogVar: Dense?
    public let decoder: Sequential
    public let store: ParameterStore

    // Step buffers, [N, d] unless noted.
    private let eps = Tensor(zeros: [0])
    private let z = Tensor(zeros: [0])
    private let gradMu = Tensor(zeros: [0])
    private let gradLogVar = Tensor(zeros: [0])
    private let gradHidden = Tensor(zeros: [0])  // [N, H]
    private let gradLogits = Tensor(zeros: [0])  // [N, 1, H, W]
    private var perImage: [Double] = []

    public init(_ config: ModelConfig) {
        self.config = config
        encoder = Network.encoder(config)
        let (h, d) = (config.hiddenUnits, config.latentDim)
        if config.kind.hasPosterior {
            zMean = Dense(name: "z_mean", inputFeatures: h, outputFeatures: d)
            zLogVar = Dense(name: "z_log_var", inputFeatures: h, outputFeatures: d)
        } else {
            zMean = Dense(name: "z", inputFeatures: h, outputFeatures: d)
            zLogVar = nil
        }
        decoder = Network.decoder(config)
        var named = encoder.namedParameters
        for head in [zMean, zLogVar].compactMap({ $0 }) {
            named += head.parameters.map { ("encoder.\(head.name).\($0.name)", $0) }
        }
        named += decoder.namedParameters
        store = ParameterStore(named)
    }

    public var hasPosterior: Bool { zLogVar != nil }
    public var noisePerImage: Int { hasPosterior ? config.latentDim : 0 }

    public func makeReplica() -> any AutoencoderModel { Autoencoder(config) }

    /// Glorot-uniform weights and zero biases from the run's `init` stream.
    public func initialize(seed: UInt64) {
        var rng = Xoshiro256(seed: seed, stream: .initialization)
        store.glorotUniformInit(&rng)
    }

    /// Attaches (or detaches) a per-layer profiler to both halves.
    public func setProfiler(_ profiler: Profiler?) {
        encoder.profiler = profiler
        decoder.profiler = profiler
    }

    public func freezeWeights(_ frozen: Bool) {
        for part in [encoder, zMean, zLogVar, decoder] as [WeightFreezing?] { part?.freezeWeights(frozen) }
    }

    // MARK: - Training

    /// Forward pass, loss and backward pass (gradients set in the store), no update.
    public func forwardBackward(_ x: Tensor, beta: Float, noise: inout Xoshiro256) -> LossParts {
        drawNoise(rows: x.shape[0], from: &noise)
        return forwardBackward(x, beta: beta, gradientBatch: x.shape[0])
    }

    /// The same on a slice of a batch of `gradientBatch` images (`DataParallelStep`): the
    /// gradients are this slice's share of the whole batch's mean, and `eps` [N, d] holds the
    /// slice's reparameterisation noise (VAE; nil for the AE). The losses are this slice's means.
    public func forwardBackward(_ x: Tensor, beta: Float, eps noise: UnsafePointer<Float>?, gradientBatch: Int)
        -> LossParts
    {
        takeNoise(rows: x.shape[0], from: noise)
        return forwardBackward(x, beta: beta, gradientBatch: gradientBatch)
    }

    /// The reparameterisation noise of a batch of n (VAE only; the AE has none), drawn from the
    /// run's stream or copied from the caller (`DataParallelStep` draws a whole batch's at once).
    private func drawNoise(rows n: Int, from noise: inout Xoshiro256) {
        guard zLogVar != nil else { return }
        eps.resize([n, config.latentDim])
        noise.fillNormal(eps.buffer)
    }

    private func takeNoise(rows n: Int, from noise: UnsafePointer<Float>?) {
        guard zLogVar != nil else { return }
        guard let noise else { preconditionFailure("a VAE needs the noise of its rows") }
        eps.resize([n, config.latentDim])
        eps.data.update(from: noise, count: eps.count)
    }

    /// The step's body, with `eps` already drawn (VAE).
    private func forwardBackward(_ x: Tensor, beta: Float, gradientBatch: Int) -> LossParts {
        let n = x.shape[0]
        let d = config.latentDim
        let hidden = encoder.forward(x)
        let mu = zMean.forward(hidden)
        var kl = 0.0
        let code: Tensor
        var logVarOutput: Tensor?
        gradMu.resize([n, d])
        gradMu.zero()
        if let zLogVar {
            let logVar = zLogVar.forward(hidden)
            logVarOutput = logVar
            z.resize([n, d])
            Loss.reparameterize(mu: mu.data, logVar: logVar.data, eps: eps.data, into: z.data, count: n * d)
            gradLogVar.resize([n, d])
            gradLogVar.zero()
            kl = Loss.gaussianKL(
                mu: mu.data, logVar: logVar.data, batch: n, dimensions: d,
                gradMu: gradMu.data, gradLogVar: gradLogVar.data, gradScale: beta / Float(gradientBatch))
            code = z
        } else {
            code = mu
        }
        let logits = decoder.forward(code)
        gradLogits.resize(logits.shape)
        let recon = config.likelihood.negativeLogLikelihood(
            logits: logits.data, targets: x.data, batch: n, perImage: config.pixels,
            gradient: gradLogits.data, gradScale: 1 / Float(gradientBatch))
        let dz = decoder.backward(gradLogits)
        let dHidden: Tensor
        if let zLogVar, let logVar = logVarOutput {
            Loss.reparameterizeBackward(
                dz: dz.data, logVar: logVar.data, eps: eps.data,
                gradMu: gradMu.data, gradLogVar: gradLogVar.data, count: n * d)
            dHidden = headsBackward(gradMu: gradMu, gradLogVar: gradLogVar, through: zLogVar)
        } else {
            dHidden = zMean.backward(dz)
        }
        _ = encoder.backward(dHidden)
        return LossParts(recon: recon, kl: kl, total: recon + Double(beta) * kl)
    }

    /// The hidden layer's gradient [N, H] from the heads' output gradients [N, d]: the sum of
    /// zMean's and zLogVar's input gradients (the VAE's and the IWAE's backward pass).
    func headsBackward(gradMu: Tensor, gradLogVar: Tensor, through zLogVar: Dense) -> Tensor {
        let a = zMean.backward(gradMu)
        gradHidden.resize(a.shape)
        gradHidden.copy(from: a)
        let b = zLogVar.backward(gradLogVar)
        let (gh, gb) = (gradHidden.data, b.data)
        for i in 0..<gradHidden.count { gh[i] += gb[i] }
        return gradHidden
    }

    // MARK: - Inference

    /// Posterior parameters for a batch: mu [N, d] and logvar [N, d] (nil for the AE, whose
    /// code is `mu`). The returned tensors belong to the model and are overwritten by its next call.
    public func encode(_ x: Tensor) -> (mu: Tensor, logVar: Tensor?) {
        let hidden = encoder.forward(x, keepingActivations: false)
        let mu = zMean.forward(hidden)
        return (mu, zLogVar?.forward(hidden))
    }

    /// Decoder logits [N, 1, H, W] for codes z [N, d].
    public func decode(_ z: Tensor) -> Tensor { decoder.forward(z, keepingActivations: false) }

    /// Per-image loss parts of a batch without updating anything. VAEs draw one z per image from
    /// `noise`; per-image recon and KL (nats) are written to the given arrays.
    public func evaluate(
        _ x: Tensor, beta: Float, noise: inout Xoshiro256,
        recon: UnsafeMutablePointer<Double>, kl: UnsafeMutablePointer<Double>
    ) {
        drawNoise(rows: x.shape[0], from: &noise)
        evaluateDrawn(x, recon: recon, kl: kl)
    }

    /// The same with the noise given: `eps` [N, d] (VAE; nil for the AE).
    public func evaluate(
        _ x: Tensor, beta: Float, eps noise: UnsafePointer<Float>?,
        recon: UnsafeMutablePointer<Double>, kl: UnsafeMutablePointer<Double>
    ) {
        takeNoise(rows: x.shape[0], from: noise)
        evaluateDrawn(x, recon: recon, kl: kl)
    }

    private func evaluateDrawn(_ x: Tensor, recon: UnsafeMutablePointer<Double>, kl: UnsafeMutablePointer<Double>) {
        let n = x.shape[0]
        let d = config.latentDim
        let (mu, logVar) = encode(x)
        let code: Tensor
        if let logVar {
            z.resize([n, d])
            Loss.reparameterize(mu: mu.data, logVar: logVar.data, eps: eps.data, into: z.data, count: n * d)
            Loss.gaussianKL(mu: mu.data, logVar: logVar.data, batch: n, dimensions: d, perExample: kl)
            code = z
        } else {
            kl.update(repeating: 0, count: n)
            code = mu
        }
        let logits = decode(code)
        config.likelihood.negativeLogLikelihood(
            logits: logits.data, targets: x.data, batch: n, perImage: config.pixels, perImageLoss: recon)
    }

    /// Forward FLOPs, and those of one training step: forward + weight gradients + input
    /// gradients, where computed.
    public func flops(batch n: Int, decoderRows: Int) -> (forward: Int, trainingStep: Int) {
        let inputShape = [n, 1, config.imageHeight, config.imageWidth]
        let headFLOPs = 2 * n * config.hiddenUnits * config.latentDim * (zLogVar == nil ? 1 : 2)
        let forward =
            encoder.forwardFLOPs(inputShape: inputShape) + headFLOPs
            + decoder.forwardFLOPs(inputShape: [decoderRows, config.latentDim])
        // Backward costs two forwards (dW and dx) for every layer, less dx of a first layer that skips it.
        let first = encoder.layers[0]
        let skipped = (first as? InputGradientOptional)?.computesInputGradient == false
        return (forward, 3 * forward - (skipped ? first.forwardFLOPs(inputShape: inputShape) : 0))
    }
}
