import NNKernels
import NeuralNet
import Testing

/// The direct 3x3 kernels take narrower register blocks without AVX-512 (`nn_kernels.c`): the
/// same sums in the same order. On an AVX-512 machine `vl_force_narrow_blocks` runs those blocks
/// in the same (AVX-512) code, so both must give the same bits. Elsewhere both runs would take the
/// narrow blocks, and the test is off.
@Suite(
    "Kernels: the direct kernels' narrow register blocks (AVX2) give the wide blocks' bits",
    .enabled(if: vl_vector_bits() == 512, "both runs would take the narrow blocks"))
struct NarrowBlockTests {
    /// Every output and gradient of `run` with the wide blocks, then with the narrow ones.
    static func wideAndNarrow(_ run: () -> [[Float]]) -> (wide: [[Float]], narrow: [[Float]]) {
        vl_force_narrow_blocks(0)
        let wide = run()
        vl_force_narrow_blocks(1)
        defer { vl_force_narrow_blocks(0) }
        return (wide, run())
    }

    /// A shape of the decoder's output layer (c -> o, h x w) fed by a stride-2 transposed
    /// convolution whose fused ReLU it masks: forward, input and parameter gradients.
    struct Shape: CustomTestStringConvertible, Sendable {
        var images: Int, c: Int, o: Int, h: Int
        var testDescription: String { "\(images) images C\(c)->O\(o) \(2 * h)x\(2 * h)" }
    }

    static let shapes = [
        Shape(images: 2, c: 32, o: 1, h: 14),  // deconv3: 49 vectors of 16
        Shape(images: 3, c: 5, o: 2, h: 5),  // 100 pixels: a tail of 4; an odd channel; rows 4 + 1
        Shape(images: 1, c: 7, o: 3, h: 12),  // 576 = 12 x 48: no tail
    ]

    @Test(arguments: shapes)
    func transposedConvolutionStride1(_ s: Shape) {
        let (wide, narrow) = Self.wideAndNarrow {
            let upper = ConvTranspose2D(name: "u", inputChannels: 4, outputChannels: s.c, kernelSize: 3, stride: 2)
            let lower = ConvTranspose2D(name: "l", inputChannels: s.c, outputChannels: s.o, kernelSize: 3, stride: 1)
            (upper.fusedReLU, lower.kernel) = (true, .direct)
            ConvTranspose2D.handOverReLUMask(from: upper, to: lower)
            randomizeParameters(upper, seed: 71)
            randomizeParameters(lower, seed: 72)
            let y = lower.forward(upper.forward(randomTensor([s.images, 4, s.h, s.h], seed: 73)))
            let dx = lower.backward(randomTensor(y.shape, seed: 74))
            return [y.array, dx.array, lower.weight.grad.array, lower.bias.grad.array]
        }
        #expect(wide[1].contains(0) && wide[1].contains { $0 != 0 }, "the input gradient is masked in part")
        for (name, (a, b)) in zip(["y", "dx", "dW", "db"], zip(wide, narrow)) {
            let same = a == b  // (not in the expectation: it would print both arrays)
            #expect(same, "\(name)")
        }
    }

    /// The encoder's first layer (1 or 2 -> o channels, stride 2, fused ReLU): forward and
    /// parameter gradients; an odd o leaves one output channel of a pair.
    @Test(arguments: [(2, 1, 32, 28), (3, 2, 5, 10)])
    func convolutionStride2(_ s: (Int, Int, Int, Int)) {
        let (wide, narrow) = Self.wideAndNarrow {
            let layer = Conv2D(name: "c", inputChannels: s.1, outputChannels: s.2, kernelSize: 3, stride: 2)
            (layer.kernel, layer.fusedReLU, layer.computesInputGradient) = (.direct, true, false)
            randomizeParameters(layer, seed: 75)
            let y = layer.forward(randomTensor([s.0, s.1, s.3, s.3], seed: 76))
            _ = layer.backward(randomTensor(y.shape, seed: 77))
            return [y.array, layer.weight.grad.array, layer.bias.grad.array]
        }
        for (name, (a, b)) in zip(["y", "dW", "db"], zip(wide, narrow)) {
            let same = a == b
            #expect(same, "\(name)")
        }
    }
}
