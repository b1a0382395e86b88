import NNKernels
import NeuralNet
import Testing

@Suite("Layers: passes in tiles, and runs of layers fused tile by tile")
struct TiledRunTests {
    /// Whether OpenBLAS sums each product element as one FMA chain, so that the bits of a product do
    /// not depend on its width: not its Haswell kernel (also its Zen one), which sums some 8-column
    /// tiles as two chains placed by the product's width (nn_gemm.c), so that a run in tiles of
    /// images differs from the whole batch in the last bits, with OpenBLAS as with `vl_sgemm`.
    static let oneChainPerElement = BLAS.ownKernel != VL_GEMM_HASWELL

    /// Runs a whole forward and backward pass through `begin`, the given tiles and `endBackward`.
    static func tiled(_ layer: TiledLayer, _ x: Tensor, _ dy: Tensor, tiles: [Range<Int>]) -> (y: [Float], dx: [Float])
    {
        let y = layer.beginForward(x, nil)
        for tile in tiles { layer.forward(images: tile) }
        let dx = layer.beginBackward(dy, nil)
        for tile in tiles { layer.backward(images: tile) }
        layer.endBackward()
        return (y.array, dx.array)
    }

    static func zeroGradients(_ layer: Layer) {
        for p in layer.parameters { p.grad.data.update(repeating: 0, count: p.grad.count) }
    }

    /// The direct kernels sum their weight gradients image by image across the calls: any tiling
    /// gives the one-call bits (the output, the input gradient and every parameter gradient).
    @Test(arguments: ["deconv 4->1 s1, 7x7", "conv 1->3 s2, 8x8"])
    func directKernelTilesGiveTheWholeBatchBits(_ shape: String) {
        func make() -> TiledLayer {
            if shape.hasPrefix("deconv") {
                let layer = ConvTranspose2D(name: "d", inputChannels: 4, outputChannels: 1, kernelSize: 3, stride: 1)
                layer.kernel = .direct
                randomizeParameters(layer, seed: 51)
                return layer
            }
            let layer = Conv2D(name: "c", inputChannels: 1, outputChannels: 3, kernelSize: 3, stride: 2)
            (layer.kernel, layer.fusedReLU, layer.computesInputGradient) = (.direct, true, false)
            randomizeParameters(layer, seed: 51)
            return layer
        }
        let x = randomTensor(shape.hasPrefix("deconv") ? [5, 4, 7, 7] : [5, 1, 8, 8], seed: 52)
        let (whole, inTiles) = (make(), make())
        let y = whole.forward(x)
        let dy = randomTensor(y.shape, seed: 53)
        let dx = whole.backward(dy).array
        let (yt, dxt) = Self.tiled(inTiles, x, dy, tiles: [0..<2, 2..<3, 3..<5])
        #expect(yt == y.array)
        #expect(dxt == dx)
        for (a, b) in zip(inTiles.parameters, whole.parameters) {
            let same = a.grad.array == b.grad.array
            #expect(same, "the gradient of \(a.name)")
        }
    }

    /// A decoder's tail: deconv1 (64 channels, channel-major hand-over) -> deconv2 -> deconv3
    /// (direct), ReLU masks handed over, 30 images: deconv2 takes them in tiles of 25 and 5,
    /// deconv1 alone in one of 30. Without `handOver` each layer applies its own ReLU's mask: to a
    /// tile-local dy in the fused run (channel-major for deconv1).
    static func decoder(fused: Bool, handOver: Bool = true) -> Sequential {
        let d1 = ConvTranspose2D(name: "d1", inputChannels: 8, outputChannels: 64, kernelSize: 3, stride: 2)
        let d2 = ConvTranspose2D(name: "d2", inputChannels: 64, outputChannels: 32, kernelSize: 3, stride: 2)
        let d3 = ConvTranspose2D(name: "d3", inputChannels: 32, outputChannels: 1, kernelSize: 3, stride: 1)
        (d1.fusedReLU, d2.fusedReLU) = (true, true)
        (d1.outputLayout, d2.inputLayout) = (.channelMajor, .channelMajor)
        if handOver {
            ConvTranspose2D.handOverReLUMask(from: d1, to: d2)
            ConvTranspose2D.handOverReLUMask(from: d2, to: d3)
        }
        for (i, layer) in [d1, d2, d3].enumerated() { randomizeParameters(layer, seed: 60 + UInt64(i)) }
        return Sequential(name: "decoder", [d1, d2, d3], fusingTiles: fused ? [[d1, d2, d3]] : [])
    }

    /// The fused run computes what the layers one after another compute, its gradients handed over
    /// tile-local: the same bits for the output and for deconv2's and deconv3's gradients (their own
    /// tilings are kept); deconv1, now in deconv2's tiles, sums its weight gradient in two parts
    /// instead of one (float rounding). With the masks handed over or applied by their own layers.
    /// Not with OpenBLAS's Haswell kernel (`oneChainPerElement`).
    @Test(.enabled(if: oneChainPerElement), arguments: [true, false])
    func fusedRunMatchesTheLayersOneByOne(handOver: Bool) {
        let x = randomTensor([30, 8, 3, 3], seed: 64)
        let (plain, fused) = (
            Self.decoder(fused: false, handOver: handOver), Self.decoder(fused: true, handOver: handOver)
        )
        let y = plain.forward(x)
        #expect(fused.forward(x).array == y.array)
        let dy = randomTensor(y.shape, seed: 65)
        let dx = plain.backward(dy).array
        let dxFused = fused.backward(dy).array
        #expect(maxAbsDiff(dxFused, dx) <= 1e-5 * (dx.map(abs).max() ?? 0))
        for ((name, a), (_, b)) in zip(fused.namedParameters, plain.namedParameters) {
            if name.hasPrefix("decoder.d1.") {
                let scale = b.grad.array.map(abs).max() ?? 0
                #expect(maxAbsDiff(a.grad.array, b.grad.array) <= 1e-5 * scale, "the gradient of \(name)")
            } else {
                let same = a.grad.array == b.grad.array
                #expect(same, "the gradient of \(name)")
            }
        }
    }

    /// An inference pass, whose layers hand each other one tile at a time inside the run (the last
    /// tile, of 5 images, smaller than the buffers), gives the output bits of the pass that keeps
    /// every activation; and a training pass after it is whole again.
    @Test(.enabled(if: oneChainPerElement)) func inferencePassHandsOverTilesWithTheSameBits() {
        let x = randomTensor([30, 8, 3, 3], seed: 70)
        let (network, reference) = (Self.decoder(fused: true), Self.decoder(fused: false))
        let y = reference.forward(x).array
        #expect(network.forward(x, keepingActivations: false).array == y)
        #expect(network.forward(x, keepingActivations: false).shape == [30, 1, 12, 12])
        #expect(network.forward(x).array == y)
        let dy = randomTensor([30, 1, 12, 12], seed: 71)
        let dx = reference.backward(dy).array
        #expect(maxAbsDiff(network.backward(dy).array, dx) <= 1e-5 * (dx.map(abs).max() ?? 0))
    }

    /// A second batch through the same fused network (smaller, so the tiles change) gives the
    /// result of a fresh one: no state leaks from one pass to the next.
    @Test func fusedRunCarriesNothingOver() {
        let (reused, fresh) = (Self.decoder(fused: true), Self.decoder(fused: true))
        let first = randomTensor([30, 8, 3, 3], seed: 66)
        _ = reused.backward(randomTensor(reused.forward(first).shape, seed: 67))
        for layer in reused.layers { Self.zeroGradients(layer) }
        let x = randomTensor([7, 8, 3, 3], seed: 68)
        let y = fresh.forward(x)
        #expect(reused.forward(x).array == y.array)
        let dy = randomTensor(y.shape, seed: 69)
        #expect(reused.backward(dy).array == fresh.backward(dy).array)
        for (a, b) in zip(reused.parameters, fresh.parameters) { #expect(a.grad.array == b.grad.array) }
    }
}
