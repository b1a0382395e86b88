import NeuralNet

/// The shape of a reference-study model (DESIGN.md): image size, latent dimension d and the
/// encoder's hidden width H.
public struct ModelConfig: Hashable, Sendable {
    public var kind: ModelKind
    public var latentDim: Int
    public var hiddenUnits: Int
    public var imageHeight: Int
    public var imageWidth: Int
    /// Posterior samples per image in a training step (the IWAE's k; 1 for the others).
    public var trainSamples: Int
    /// p(x|z) of each pixel given the decoder's logits.
    public var likelihood: Likelihood

    public init(
        kind: ModelKind, latentDim: Int, hiddenUnits: Int = 256, imageHeight: Int = 28, imageWidth: Int = 28,
        trainSamples: Int = 1, likelihood: Likelihood = .bernoulli
    ) {
        precondition(latentDim > 0 && hiddenUnits > 0, "latentDim and hiddenUnits must be positive")
        precondition(imageHeight % 4 == 0 && imageWidth % 4 == 0, "image sides must be multiples of 4")
        self.kind = kind
        self.latentDim = latentDim
        self.hiddenUnits = hiddenUnits
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
        self.likelihood = likelihood
        self.trainSamples = trainSamples
    }

    public var pixels: Int { imageHeight * imageWidth }
}

/// Loss parts of one batch, each "nats per image" (sum over pixels / latent dims, mean over batch).
public struct LossParts: Sendable, Equatable {
    public var recon: Double
    public var kl: Double
    public var total: Double
    public init(recon: Double, kl: Double, total: Double) {
        self.recon = recon
        self.kl = kl
        self.total = total
    }
}

/// What training, evaluation, data-parallel steps, figures and checkpoints need of a model: the
/// seam behind which the model kinds live. `ModelRegistry` makes one from a run's `ModelKind`;
/// nothing outside `Models` asks which kind it has, only what it can do (`hasPosterior`).
///
/// Shapes: x [N, 1, H, W] pixels in [0, 1]; codes z [N, d]; logits [N, 1, H, W]. Losses are
/// "nats per image" (sum over pixels / latent dimensions, mean over the batch).
public protocol AutoencoderModel: AnyObject {
    var config: ModelConfig { get }
    /// Every parameter under its checkpoint name (`encoder.conv1.weight`, ...), in one buffer.
    var store: ParameterStore { get }
    /// True when the encoder gives a posterior q(z|x) = N(mu, e^logvar): the model takes noise
    /// eps [N, d] per batch (z = mu + e^(logvar/2) * eps) and has a KL term. False for a
    /// deterministic code z = mu (no noise, KL 0).
    var hasPosterior: Bool { get }
    /// Noise values a training step draws per image: d with a posterior (k·d for the IWAE's k
    /// samples), 0 without. `DataParallelStep` draws a batch's and hands each slice its rows.
    var noisePerImage: Int { get }

    /// Draws the initial weights from the run's `init` stream.
    func initialize(seed: UInt64)
    /// Forward pass, loss (recon + beta * KL) and backward pass on a whole batch, gradients
    /// set in `store`, the noise (with a posterior) drawn from `noise`.
    func forwardBackward(_ x: Tensor, beta: Float, noise: inout Xoshiro256) -> LossParts
    /// The same on a slice of a batch of `gradientBatch` images (`DataParallelStep`): the
    /// gradients are this slice's share of the batch's mean; `eps` [N, noisePerImage] is the slice's noise
    /// (nil without a posterior). Returns the slice's mean loss parts.
    func forwardBackward(_ x: Tensor, beta: Float, eps: UnsafePointer<Float>?, gradientBatch: Int) -> LossParts
    /// Posterior means mu [N, d] and log-variances (nil without a posterior, when mu is the code).
    /// The tensors belong to the model and are overwritten by its next call.
    func encode(_ x: Tensor) -> (mu: Tensor, logVar: Tensor?)
    /// Decoder logits [N, 1, H, W] for codes z [N, d].
    func decode(_ z: Tensor) -> Tensor
    /// Per-image recon and KL (nats) of a batch, nothing updated: one z per image, its noise
    /// drawn from `noise`.
    func evaluate(
        _ x: Tensor, beta: Float, noise: inout Xoshiro256, recon: UnsafeMutablePointer<Double>,
        kl: UnsafeMutablePointer<Double>)
    /// The same with the noise given: `eps` [N, d] (nil without a posterior).
    func evaluate(
        _ x: Tensor, beta: Float, eps: UnsafePointer<Float>?, recon: UnsafeMutablePointer<Double>,
        kl: UnsafeMutablePointer<Double>)
    /// Forward FLOPs of n images whose codes make `decoderRows` decoder rows (n, or n·k for
    /// k samples per image), and those of one training step on them.
    func flops(batch n: Int, decoderRows: Int) -> (forward: Int, trainingStep: Int)
    /// Attaches (or detaches) a per-layer profiler.
    func setProfiler(_ profiler: Profiler?)
    /// Freezes the weights for a series of inference passes during which they do not change, or
    /// thaws them after (`WeightFreezing`).
    func freezeWeights(_ frozen: Bool)
    /// A new model of the same configuration, its weights not yet set (a data-parallel replica).
    func makeReplica() -> any AutoencoderModel
}

extension AutoencoderModel {
    public var parameterCount: Int { store.count }

    /// Forward FLOPs per batch of n images, and those of one training step (`trainSamples`
    /// decoder rows per image).
    public func flops(batch n: Int) -> (forward: Int, trainingStep: Int) {
        flops(batch: n, decoderRows: n * config.trainSamples)
    }

    /// One optimisation step on a batch: forward, loss, backward (which sets the gradients), update.
    public func trainStep(_ x: Tensor, beta: Float, noise: inout Xoshiro256, optimizer: Adam) -> LossParts {
        let parts = forwardBackward(x, beta: beta, noise: &noise)
        optimizer.update(store.values, gradients: store.gradients)
        return parts
    }
}
