import NeuralNet

/// The convolutional VAE / AE of the reference study (Keras "same" padding throughout).
public typealias ConvAutoencoder = Autoencoder<ConvNetwork>

/// The reference study's layers (DESIGN.md):
///
///     encoder: conv1 1->32 3x3/2, ReLU (28->14); conv2 32->64 3x3/2, ReLU (14->7); flatten 3136;
///              dense 3136->H, ReLU
///     decoder: dense d->3136, ReLU; reshape 64x7x7; deconv1 64->64 3x3/2, ReLU (7->14);
///              deconv2 64->32 3x3/2, ReLU (14->28); deconv3 32->1 3x3/1 -> logits
///
/// ReLUs are fused into the layer before them (same maths, two memory passes fewer each).
public enum ConvNetwork: AutoencoderNetwork {
    public static let architecture =
        "encoder: conv 1→32 and 32→64 (3×3, stride 2, same, ReLU), dense 3136→H (ReLU), "
        + "dense H→d for the mean and H→d for the log-variance (VAE) or one H→d code (AE); decoder: dense d→3136 (ReLU), "
        + "transposed conv 64→64 and 64→32 (3×3, stride 2, ReLU), 32→1 (3×3, stride 1) to logits"

    static func flat(_ config: ModelConfig) -> Int { 64 * (config.imageHeight / 4) * (config.imageWidth / 4) }

    public static func encoder(_ config: ModelConfig) -> Sequential {
        let conv1 = Conv2D(name: "conv1", inputChannels: 1, outputChannels: 32, kernelSize: 3, stride: 2)
        conv1.computesInputGradient = false  // its input is data
        let conv2 = Conv2D(name: "conv2", inputChannels: 32, outputChannels: 64, kernelSize: 3, stride: 2)
        let dense = Dense(name: "dense", inputFeatures: flat(config), outputFeatures: config.hiddenUnits)
        for layer in [conv1, conv2] as [Conv2D] { layer.fusedReLU = true }
        dense.fusedReLU = true
        // conv2 takes each tile of conv1's output, and conv1 each tile of its output gradient, in cache.
        return Sequential(
            name: "encoder", [conv1, conv2, Reshape(name: "flatten", to: [flat(config)]), dense],
            fusingTiles: [[conv1, conv2]])
    }

    public static func decoder(_ config: ModelConfig) -> Sequential {
        let dense = Dense(name: "dense", inputFeatures: config.latentDim, outputFeatures: flat(config))
        let deconv1 = ConvTranspose2D(name: "deconv1", inputChannels: 64, outputChannels: 64, kernelSize: 3, stride: 2)
        let deconv2 = ConvTranspose2D(name: "deconv2", inputChannels: 64, outputChannels: 32, kernelSize: 3, stride: 2)
        dense.fusedReLU = true
        deconv1.fusedReLU = true
        deconv2.fusedReLU = true
        // deconv1 hands its output (and takes its gradient) to deconv2 as the [64, N*196] matrix
        // both GEMMs use: no permute between them.
        deconv1.outputLayout = .channelMajor
        deconv2.inputLayout = .channelMajor
        let unflatten = Reshape(name: "unflatten", to: [64, config.imageHeight / 4, config.imageWidth / 4])
        let deconv3 = ConvTranspose2D(name: "deconv3", inputChannels: 32, outputChannels: 1, kernelSize: 3, stride: 1)
        // deconv1's and deconv2's ReLU masks are applied to their gradients by the layer after,
        // which holds their output (its input) in cache as it writes that gradient: they do not
        // read their outputs again.
        ConvTranspose2D.handOverReLUMask(from: deconv1, to: deconv2)
        ConvTranspose2D.handOverReLUMask(from: deconv2, to: deconv3)
        // The three run tile by tile (deconv2's tiles of four images): each takes the tile of its
        // input, and in backward of its output gradient, that the layer before just wrote, in cache.
        return Sequential(
            name: "decoder", [dense, unflatten, deconv1, deconv2, deconv3], fusingTiles: [[deconv1, deconv2, deconv3]])
    }
}
