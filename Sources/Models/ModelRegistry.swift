/// Which model a run trains: the value of its `model` field.
public enum ModelKind: String, Codable, CaseIterable, Sendable {
    /// The convolutional variational autoencoder of the reference study.
    case vae
    /// The same network with a deterministic code: a plain autoencoder of matched capacity.
    case ae
    /// The VAE's network trained on the importance-weighted bound with `train_samples` samples.
    case iwae
}

/// From a run's model kind to its factory and what is known of it before one is made. A new
/// kind is a case of `ModelKind` and an entry here; everything else asks the model (or this
/// table) what it can do.
public enum ModelRegistry {
    public struct Entry: Sendable {
        /// Whether the model has a posterior q(z|x) (see `AutoencoderModel.hasPosterior`).
        public let hasPosterior: Bool
        /// The architecture in one paragraph, for the report's methods (H and d are the run's).
        public let architecture: String
        public let make: @Sendable (ModelConfig) -> any AutoencoderModel
    }

    public static func entry(_ kind: ModelKind) -> Entry {
        switch kind {
        case .vae, .ae:
            return Entry(
                hasPosterior: kind == .vae, architecture: ConvNetwork.architecture, make: { ConvAutoencoder($0) })
        case .iwae:
            return Entry(
                hasPosterior: true, architecture: ConvNetwork.architecture,
                make: { ImportanceWeightedAutoencoder<ConvNetwork>($0) })
        }
    }

    /// A new model of `config`'s kind and shape, its weights not yet drawn.
    public static func make(_ config: ModelConfig) -> any AutoencoderModel { entry(config.kind).make(config) }
}

extension ModelKind {
    /// Whether models of this kind have a posterior (a KL term, noise, an NLL bound, beta).
    public var hasPosterior: Bool { ModelRegistry.entry(self).hasPosterior }
}
