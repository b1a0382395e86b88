import NNKernels
import NeuralNet
import Testing

/// `vl_deconv3x3s2_forward` against the two passes it replaces, `vl_sgemm` (col = W^T X) and then
/// `vl_col2im`, bit for bit; and the layers that call it against the layers made to run those two.
@Suite("Kernels: the stride-2 transposed convolution's forward pass, GEMM and col2im in one sweep")
struct FusedDeconvolutionTests {
    /// vl_sgemm (and so the fused kernel) runs where vaelab's kernels run with AVX-512.
    static let avx512 = vl_vector_bits() == 512
    static let kq = 320

    /// A tile of n images of oh x ow pixels, c -> o channels, its output planes NCHW or channel-major.
    struct Tile: CustomTestStringConvertible, Sendable {
        var n: Int, c: Int, o: Int, oh: Int, ow: Int, channelMajor: Bool, relu: Bool
        var testDescription: String {
            "\(n) images \(oh)x\(ow) C\(c)->O\(o) \(channelMajor ? "channel-major" : "NCHW")\(relu ? " ReLU" : "")"
        }
        var cols: Int { n * oh * ow }
        var ldx: Int { cols + 5 }  // X's rows, with a stride that is not their length
        /// Output floats, with a margin of 40 past the end that nothing may touch.
        var outputCount: Int { n * o * 4 * oh * ow + 40 }
        var planes: vl_planes {
            let plane = 4 * oh * ow
            return channelMajor
                ? vl_planes(image: plane, channel: n * plane) : vl_planes(image: o * plane, channel: plane)
        }
    }

    static let tiles = [
        Tile(n: 4, c: 64, o: 32, oh: 14, ow: 14, channelMajor: false, relu: true),  // deconv2's tile
        Tile(n: 4, c: 64, o: 64, oh: 7, ow: 7, channelMajor: true, relu: true),  // deconv1's: a tail of 4 pixels
        Tile(n: 5, c: 64, o: 32, oh: 14, ow: 14, channelMajor: true, relu: false),
        Tile(n: 3, c: 17, o: 5, oh: 6, ow: 9, channelMajor: false, relu: true),  // an odd channel: one of a pair
        Tile(n: 2, c: 8, o: 3, oh: 16, ow: 16, channelMajor: false, relu: false),  // a row per vector
        Tile(n: 3, c: 4, o: 2, oh: 5, ow: 1, channelMajor: true, relu: true),  // a pixel per row: runs of one
    ]

    static func inputs(_ t: Tile) -> (x: [Float], weight: [Float], bias: [Float]) {
        var rng = Xoshiro256(seed: UInt64(t.cols + t.o))
        return (
            (0..<(t.c * t.ldx)).map { _ in rng.uniform(-1, 1) }, (0..<(t.c * t.o * 9)).map { _ in rng.uniform(-1, 1) },
            (0..<t.o).map { _ in rng.uniform(-0.5, 0.5) }
        )
    }

    @Test(.enabled(if: avx512), arguments: tiles)
    func givesTheBitsOfGEMMThenCol2im(_ t: Tile) {
        let (x, weight, bias) = Self.inputs(t)
        var col = [Float](repeating: 0, count: 9 * t.o * t.cols + 16)  // col2im reads 16 past the end
        #expect(
            vl_sgemm(1, 0, 9 * t.o, t.cols, t.c, weight, 9 * t.o, x, t.ldx, 0, &col, t.cols, Self.kq, VL_GEMM_AVX512)
                != 0)
        var expected = [Float](repeating: 7.5, count: t.outputCount)
        var geometry = vl_geometry(
            channels: t.o, in_h: 2 * t.oh, in_w: 2 * t.ow, kernel: 3, stride: 2, pad_top: 0, pad_left: 0,
            out_h: t.oh, out_w: t.ow)
        vl_col2im(col, t.n, &geometry, &expected, t.planes, 0, bias, t.relu ? 1 : 0)

        var packed = [Float](repeating: 0, count: weight.count)
        vl_deconv3x3s2_pack(weight, t.c, t.o, &packed)
        var y = [Float](repeating: 7.5, count: t.outputCount)
        let ran = vl_deconv3x3s2_forward(
            x, t.ldx, t.n, t.c, t.o, t.oh, t.ow, packed, bias, t.relu ? 1 : 0, &y, t.planes, Self.kq)
        #expect(ran != 0)
        let differing = y.indices.first { y[$0].bitPattern != expected[$0].bitPattern }
        #expect(differing == nil, "first difference at \(differing ?? -1) of \(y.count)")
        if t.relu { #expect(y.contains(0) && y.contains { $0 > 0 && $0 != 7.5 }, "the ReLU's mask has both sides") }
    }

    /// More input channels than one K block (another summation order), or no AVX-512: declined.
    @Test func declinesMoreChannelsThanOneKBlockAndTouchesNothing() {
        let t = Tile(n: 1, c: 40, o: 2, oh: 4, ow: 4, channelMajor: false, relu: false)
        let (x, weight, bias) = Self.inputs(t)
        var y = [Float](repeating: 7.5, count: t.outputCount)
        #expect(vl_deconv3x3s2_forward(x, t.ldx, t.n, t.c, t.o, t.oh, t.ow, weight, bias, 0, &y, t.planes, 32) == 0)
        #expect(y.allSatisfy { $0 == 7.5 })
    }

    /// The decoder's two stride-2 layers as the model runs them (tiles of the batch, deconv1's output
    /// channel-major into deconv2, fused ReLUs) against the same layers forced onto GEMM and col2im.
    @Test(.enabled(if: BLAS.fusesCol2im && BLAS.threads == 1))
    func layersGiveTheBitsOfTheUnfusedLayers() {
        func make(_ kernel: ConvolutionKernel) -> (ConvTranspose2D, ConvTranspose2D) {
            let deconv1 = ConvTranspose2D(name: "d1", inputChannels: 64, outputChannels: 64, kernelSize: 3, stride: 2)
            let deconv2 = ConvTranspose2D(name: "d2", inputChannels: 64, outputChannels: 32, kernelSize: 3, stride: 2)
            (deconv1.outputLayout, deconv2.inputLayout) = (.channelMajor, .channelMajor)
            for (layer, seed) in [(deconv1, 51), (deconv2, 52)] as [(ConvTranspose2D, UInt64)] {
                (layer.kernel, layer.fusedReLU) = (kernel, true)
                randomizeParameters(layer, seed: seed)
            }
            return (deconv1, deconv2)
        }
        // deconv1 in tiles of 9 and 1 images (the one too small for vl_sgemm: OpenBLAS, unfused),
        // deconv2 in tiles of 4, 4 and 2.
        let x = randomTensor([10, 64, 7, 7], seed: 53)
        let (f1, f2) = make(.fused)
        let (g1, g2) = make(.gemm)
        let hidden = f1.forward(x).array
        let y = f2.forward(f1.forward(x)).array
        let (sameHidden, sameOutput) = (hidden == g1.forward(x).array, y == g2.forward(g1.forward(x)).array)
        #expect(sameHidden, "deconv1's output")
        #expect(sameOutput, "deconv2's output")
        #expect(f1.fusedTiles == 1 && f2.fusedTiles == 3, "deconv1 fused \(f1.fusedTiles), deconv2 \(f2.fusedTiles)")
        #expect(g1.fusedTiles == 0 && g2.fusedTiles == 0)
    }

    /// The encoder's conv2 (32 -> 64, 14 -> 7): its input gradient col2im(W^T dY) in one sweep
    /// against the layer forced onto GEMM and col2im, in tiles of 18 images and 2 (too small).
    @Test(.enabled(if: BLAS.fusesCol2im && BLAS.threads == 1))
    func convolutionInputGradientGivesTheUnfusedBits() {
        func make(_ kernel: ConvolutionKernel) -> Conv2D {
            let layer = Conv2D(name: "conv2", inputChannels: 32, outputChannels: 64, kernelSize: 3, stride: 2)
            (layer.kernel, layer.fusedReLU) = (kernel, true)
            randomizeParameters(layer, seed: 54)
            return layer
        }
        let x = randomTensor([20, 32, 14, 14], seed: 55)
        let dy = randomTensor([20, 64, 7, 7], seed: 56)
        let (fused, gemm) = (make(.fused), make(.gemm))
        _ = fused.forward(x)
        _ = gemm.forward(x)
        let (sameInput, sameWeight) = (
            fused.backward(dy).array == gemm.backward(dy).array, fused.weight.grad.array == gemm.weight.grad.array
        )
        #expect(sameInput && sameWeight, "the input gradient: \(sameInput), the weight gradient: \(sameWeight)")
        #expect(fused.fusedTiles == 1 && gemm.fusedTiles == 0, "conv2 fused \(fused.fusedTiles)")
    }

    /// `.automatic` fuses where the sweep measured faster than the two passes, and only where it
    /// can run; the measurement itself runs the real kernels.
    @Test func automaticFusesWhereTheSweepMeasuredFaster() {
        #expect((FusedCol2im.speedup != nil) == (BLAS.fusesCol2im && Self.avx512))
        if let speedup = FusedCol2im.speedup { #expect(speedup.isFinite && speedup > 0.1 && speedup < 10) }
        let layer = ConvTranspose2D(name: "d2", inputChannels: 64, outputChannels: 32, kernelSize: 3, stride: 2)
        randomizeParameters(layer, seed: 57)
        _ = layer.forward(randomTensor([8, 64, 14, 14], seed: 58))
        let fuses = BLAS.threads == 1 && (FusedCol2im.speedup ?? 0) > 1
        #expect((layer.fusedTiles > 0) == fuses, "fused \(layer.fusedTiles) tiles, speedup \(FusedCol2im.speedup ?? 0)")
    }
}
