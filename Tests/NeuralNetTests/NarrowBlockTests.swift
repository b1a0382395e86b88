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

/// The kernels broadcast each weight and bias as it is (`splat16`), where they once
/// added it to +0 first (which turns -0 into +0). The sums start at +0 and so never reach -0: a
/// weight of -0 must give the bits of +0, in the blocks this machine runs (and, on AVX-512, in
/// the narrow ones too). With every weight and the bias zero (-0 in one run), each output is a
/// sum of signed zeros alone, which must be +0. (Started at -0 instead, deconv3's taps and its
/// sum over them gave -0 at 1,352 of 1,568 outputs: tried.)
@Suite("Kernels: a weight of -0 in the direct kernels gives the bits of +0")
struct SignedZeroWeightTests {
    /// Every `step`-th weight zero (and with step 1 the bias too): -0 in one run, +0 in the
    /// other. The outputs of both, per block width.
    static func outputs(step: Int, _ layer: @escaping () -> Layer, input: Tensor) -> [([Float], [Float])] {
        func run(negative: Bool) -> [Float] {
            let l = layer()
            randomizeParameters(l, seed: 81)
            let w = l.parameters[0].value
            for i in stride(from: 0, to: w.count, by: step) { w.data[i] = negative ? -0.0 : 0.0 }
            if step == 1 { l.parameters[1].value.buffer.update(repeating: negative ? -0.0 : 0.0) }
            return l.forward(input).array
        }
        let widths: [Int32] = vl_vector_bits() == 512 ? [0, 1] : [0]
        defer { vl_force_narrow_blocks(0) }
        return widths.map { narrow in
            vl_force_narrow_blocks(narrow)
            return (run(negative: true), run(negative: false))
        }
    }

    /// Inputs as the models give these layers (images, ReLU outputs): [0, 1], every fifth +0. A
    /// product of -0 and such an input is -0, so a sum started at -0 would stay -0.
    static func input(_ shape: [Int]) -> Tensor {
        let x = randomTensor(shape, seed: 82, low: 0, high: 1)
        for i in stride(from: 0, to: x.count, by: 5) { x.data[i] = 0 }
        return x
    }

    /// Outputs whose bits differ between the runs, or -1 when a run has not `count` of them.
    static func differing(_ runs: [([Float], [Float])], count: Int) -> Int {
        runs.reduce(0) { sum, run in
            let (a, b) = run
            guard a.count == count, b.count == count else { return -1 }
            return sum + zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
        }
    }

    @Test(arguments: [3, 1])
    func transposedConvolutionStride1(step: Int) {
        let runs = Self.outputs(
            step: step,
            {
                let layer = ConvTranspose2D(name: "d", inputChannels: 32, outputChannels: 1, kernelSize: 3, stride: 1)
                layer.kernel = .direct
                return layer
            }, input: Self.input([2, 32, 28, 28]))
        #expect(Self.differing(runs, count: 2 * 28 * 28) == 0)
    }

    @Test(arguments: [3, 1])
    func convolutionStride2(step: Int) {
        let runs = Self.outputs(
            step: step,
            {
                let layer = Conv2D(name: "c", inputChannels: 1, outputChannels: 32, kernelSize: 3, stride: 2)
                (layer.kernel, layer.computesInputGradient) = (.direct, false)
                return layer
            }, input: Self.input([2, 1, 28, 28]))
        #expect(Self.differing(runs, count: 2 * 32 * 14 * 14) == 0)
    }
}
