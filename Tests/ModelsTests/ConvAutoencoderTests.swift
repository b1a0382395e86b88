import Models
import NeuralNet
import Testing

@Suite("Reference models")
struct ConvAutoencoderTests {
    @Test func parameterNamesAndShapesFollowTheDesign() {
        let vae = ConvAutoencoder(ModelConfig(kind: .vae, latentDim: 16, hiddenUnits: 256))
        let names = vae.store.named.map(\.0)
        #expect(
            names == [
                "encoder.conv1.weight", "encoder.conv1.bias", "encoder.conv2.weight", "encoder.conv2.bias",
                "encoder.dense.weight", "encoder.dense.bias", "encoder.z_mean.weight", "encoder.z_mean.bias",
                "encoder.z_log_var.weight", "encoder.z_log_var.bias",
                "decoder.dense.weight", "decoder.dense.bias", "decoder.deconv1.weight", "decoder.deconv1.bias",
                "decoder.deconv2.weight", "decoder.deconv2.bias", "decoder.deconv3.weight", "decoder.deconv3.bias",
            ])
        let shapes = Dictionary(uniqueKeysWithValues: vae.store.named.map { ($0.0, $0.1.value.shape) })
        #expect(shapes["encoder.conv1.weight"] == [32, 1, 3, 3])
        #expect(shapes["encoder.dense.weight"] == [256, 3136])
        #expect(shapes["decoder.dense.weight"] == [3136, 16])
        #expect(shapes["decoder.deconv1.weight"] == [64, 64, 3, 3])
        #expect(shapes["decoder.deconv3.weight"] == [32, 1, 3, 3])
        let ae = ConvAutoencoder(ModelConfig(kind: .ae, latentDim: 2, hiddenUnits: 16))
        #expect(ae.store.named.map(\.0).contains("encoder.z.weight"))
        #expect(!ae.store.named.map(\.0).contains { $0.contains("z_log_var") })
    }

    @Test func flopCountMatchesTheIssue() {
        // 5.13 GFLOP per training step for the VAE d = 16, H = 16 at batch 128.
        let vae = ConvAutoencoder(ModelConfig(kind: .vae, latentDim: 16, hiddenUnits: 16))
        let step = Double(vae.flops(batch: 128).trainingStep) / 1e9
        #expect(abs(step - 5.13) < 0.05, "got \(step)")
    }

    @Test func initialisationIsSeeded() {
        let a = ConvAutoencoder(ModelConfig(kind: .vae, latentDim: 2, hiddenUnits: 8))
        a.initialize(seed: 3)
        let b = ConvAutoencoder(ModelConfig(kind: .vae, latentDim: 2, hiddenUnits: 8))
        b.initialize(seed: 3)
        let c = ConvAutoencoder(ModelConfig(kind: .vae, latentDim: 2, hiddenUnits: 8))
        c.initialize(seed: 4)
        let va = Array(UnsafeBufferPointer(start: a.store.values, count: a.store.count))
        #expect(va == Array(UnsafeBufferPointer(start: b.store.values, count: b.store.count)))
        #expect(va != Array(UnsafeBufferPointer(start: c.store.values, count: c.store.count)))
    }

    /// Whole-model finite-difference check on 8x8 images of the total loss (recon + beta * KL,
    /// fixed noise): for each parameter tensor, the directional derivative along its gradient
    /// mixed with a random vector, (L(p + e v) - L(p - e v)) / 2e against g . v. A directional
    /// check stays clear of the Float32 noise that makes elementwise whole-network checks flaky;
    /// every layer has its own elementwise check in NeuralNetTests.
    @Test(arguments: [(ModelKind.vae, Likelihood.bernoulli), (.ae, .bernoulli), (.vae, .continuousBernoulli)])
    func wholeModelGradients(_ kind: ModelKind, _ likelihood: Likelihood) {
        let model = ConvAutoencoder(
            ModelConfig(
                kind: kind, latentDim: 3, hiddenUnits: 5, imageHeight: 8, imageWidth: 8, likelihood: likelihood))
        checkWholeModelGradients(model, beta: 0.7)
    }

    /// A backward pass sets every gradient rather than adding to it (nothing zeroes them before a
    /// step): two passes on the same batch and noise leave the same gradients, bit for bit. On
    /// 28x28 images, so that every layer takes the path of a real run (direct kernels, GEMMs, tiles).
    @Test(arguments: [ModelKind.vae, .ae, .iwae])
    func backwardSetsTheGradients(_ kind: ModelKind) {
        let model = ModelRegistry.make(
            ModelConfig(kind: kind, latentDim: 4, hiddenUnits: 16, trainSamples: kind == .iwae ? 3 : 1))
        model.initialize(seed: 5)
        var pixels = Xoshiro256(seed: 6)
        let x = Tensor(zeros: [6, 1, 28, 28])
        for i in 0..<x.count { x.data[i] = pixels.uniform() }
        let gradients = { Array(UnsafeBufferPointer(start: model.store.gradients, count: model.store.count)) }
        var passes: [[Float]] = []
        for _ in 0..<2 {
            var noise = Xoshiro256(seed: 7)
            _ = model.forwardBackward(x, beta: 1, noise: &noise)
            passes.append(gradients())
        }
        for (name, p) in model.store.named { #expect(p.grad.array.contains { $0 != 0 }, "\(name)'s gradient is zero") }
        let differing = zip(passes[0], passes[1]).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) of \(model.store.count) gradients changed in a second pass")
    }
}

/// The directional finite-difference check of `wholeModelGradients` for any model on 8x8 images.
func checkWholeModelGradients(_ model: any AutoencoderModel, beta: Float) {
    // Random weights *and biases*: with Keras's zero biases, units whose inputs are all zero
    // sit exactly on the ReLU kink, where a central difference sees half the slope.
    var pixels = Xoshiro256(seed: 12)
    for i in 0..<model.store.count { model.store.values[i] = pixels.uniform(-0.3, 0.3) }
    let x = Tensor(zeros: [3, 1, 8, 8])
    for i in 0..<x.count { x.data[i] = pixels.uniform() }
    let noise = Xoshiro256(seed: 13)
    let count = model.store.count
    func loss() -> Double {
        var rng = noise
        return model.forwardBackward(x, beta: beta, noise: &rng).total
    }
    model.store.zeroGradients()
    var rng = noise
    _ = model.forwardBackward(x, beta: beta, noise: &rng)
    let g = Array(UnsafeBufferPointer(start: model.store.gradients, count: count))
    var directions = Xoshiro256(seed: 14)
    // One direction per parameter tensor: its own gradient plus a random vector, normalised.
    for (name, p) in model.store.named {
        let offset = p.value.data - model.store.values
        let n = p.value.count
        let gp = (0..<n).map { Double(g[offset + $0]) }
        let r = (0..<n).map { _ in Double(directions.normal()) }
        let gNorm = max(gp.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
        let rNorm = r.reduce(0) { $0 + $1 * $1 }.squareRoot()
        var v = (0..<n).map { gp[$0] / gNorm + r[$0] / rNorm }
        let vNorm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        v = v.map { $0 / vNorm }
        let saved = p.value.array
        let eps = 1e-3
        for i in 0..<n { p.value.data[i] = saved[i] + Float(eps * v[i]) }
        let up = loss()
        for i in 0..<n { p.value.data[i] = saved[i] - Float(eps * v[i]) }
        let down = loss()
        for i in 0..<n { p.value.data[i] = saved[i] }
        let numeric = (up - down) / (2 * eps)
        let analytic = (0..<n).reduce(0.0) { $0 + gp[$1] * v[$1] }
        #expect(
            abs(numeric - analytic) <= 1e-2 + 1e-2 * max(abs(numeric), abs(analytic)),
            "\(name): numeric \(numeric) vs analytic \(analytic)")
    }
}
