import NNKernels
import NeuralNet
import Testing

struct ConvCase: CustomStringConvertible, Sendable {
    var n: Int, c: Int, o: Int, h: Int, w: Int, k: Int, s: Int
    var description: String { "N\(n) C\(c)->O\(o) \(h)x\(w) k\(k) s\(s)" }
    static let all: [ConvCase] = [
        ConvCase(n: 2, c: 3, o: 4, h: 6, w: 6, k: 3, s: 2),  // even size, stride 2: asymmetric padding
        ConvCase(n: 2, c: 2, o: 3, h: 7, w: 5, k: 3, s: 2),  // odd sizes: symmetric padding
        ConvCase(n: 3, c: 2, o: 2, h: 5, w: 5, k: 3, s: 1),
        ConvCase(n: 1, c: 1, o: 2, h: 4, w: 4, k: 3, s: 1),
        ConvCase(n: 2, c: 2, o: 3, h: 6, w: 6, k: 4, s: 2),  // even kernel
        ConvCase(n: 2, c: 3, o: 2, h: 5, w: 4, k: 1, s: 1),
        ConvCase(n: 2, c: 4, o: 1, h: 6, w: 7, k: 3, s: 1),  // the decoder's output layer shape
        ConvCase(n: 2, c: 2, o: 1, h: 3, w: 1, k: 3, s: 1),  // one column: every side tap wraps
        ConvCase(n: 2, c: 5, o: 2, h: 4, w: 5, k: 3, s: 1),  // direct dx: four rows at a time and one more
    ]
}

@Suite("Layers: gradients against finite differences")
struct LayerGradientTests {
    @Test(arguments: ConvCase.all, [ConvolutionKernel.gemm, .direct])
    func conv2D(_ c: ConvCase, _ kernel: ConvolutionKernel) {
        let layer = Conv2D(name: "conv", inputChannels: c.c, outputChannels: c.o, kernelSize: c.k, stride: c.s)
        layer.kernel = kernel
        randomizeParameters(layer, seed: 1)
        let failures = gradientCheck(layer, input: randomTensor([c.n, c.c, c.h, c.w], seed: 2))
        #expect(failures.isEmpty, "\(failures.prefix(3))")
    }

    @Test(arguments: ConvCase.all, [ConvolutionKernel.gemm, .direct])
    func convTranspose2D(_ c: ConvCase, _ kernel: ConvolutionKernel) {
        let layer = ConvTranspose2D(
            name: "deconv", inputChannels: c.c, outputChannels: c.o, kernelSize: c.k, stride: c.s)
        layer.kernel = kernel
        randomizeParameters(layer, seed: 3)
        let failures = gradientCheck(layer, input: randomTensor([c.n, c.c, c.h, c.w], seed: 4))
        #expect(failures.isEmpty, "\(failures.prefix(3))")
    }

    @Test(arguments: [(1, 1, 1), (3, 5, 4), (4, 7, 2)])
    func dense(_ shape: (Int, Int, Int)) {
        let layer = Dense(name: "dense", inputFeatures: shape.1, outputFeatures: shape.2)
        randomizeParameters(layer, seed: 5)
        let failures = gradientCheck(layer, input: randomTensor([shape.0, shape.1], seed: 6))
        #expect(failures.isEmpty, "\(failures.prefix(3))")
    }

    @Test func relu() {
        // Inputs kept away from the kink at 0 (|x| >= 0.1 >> epsilon).
        let x = randomTensor([2, 3, 4, 5], seed: 8)
        for i in 0..<x.count { x.data[i] = x.data[i] >= 0 ? x.data[i] + 0.1 : x.data[i] - 0.1 }
        let failures = gradientCheck(ReLU(), input: x)
        #expect(failures.isEmpty, "\(failures.prefix(3))")
    }

    @Test func sigmoid() {
        let failures = gradientCheck(
            Sigmoid(), input: randomTensor([3, 2, 3, 3], seed: 9, low: -4, high: 4), epsilon: 1e-2)
        #expect(failures.isEmpty, "\(failures.prefix(3))")
    }

    @Test func reshapeIsAViewWithIdentityGradient() {
        let layer = Reshape(name: "flatten", to: [12])
        let x = randomTensor([2, 3, 2, 2], seed: 10)
        let y = layer.forward(x)
        #expect(y.shape == [2, 12])
        #expect(y.data == x.data)
        let failures = gradientCheck(layer, input: x)
        #expect(failures.isEmpty)
    }

    @Test func sequentialChainsForwardAndBackward() {
        let net = Sequential(
            name: "net",
            [
                Conv2D(name: "conv", inputChannels: 1, outputChannels: 2, kernelSize: 3, stride: 2),
                Sigmoid(),
                Reshape(name: "flatten", to: [2 * 3 * 3]),
                Dense(name: "dense", inputFeatures: 18, outputFeatures: 3),
            ])
        randomizeParameters(net, seed: 11)
        #expect(
            net.namedParameters.map(\.0) == ["net.conv.weight", "net.conv.bias", "net.dense.weight", "net.dense.bias"])
        let failures = gradientCheck(net, input: randomTensor([2, 1, 6, 6], seed: 12))
        #expect(failures.isEmpty, "\(failures.prefix(3))")
    }
}

@Suite("Layers: BLAS path against naive loops")
struct ReferenceKernelTests {
    @Test(arguments: ConvCase.all, [ConvolutionKernel.gemm, .direct])
    func conv2DMatchesDirectLoops(_ c: ConvCase, _ kernel: ConvolutionKernel) {
        let layer = Conv2D(name: "conv", inputChannels: c.c, outputChannels: c.o, kernelSize: c.k, stride: c.s)
        layer.kernel = kernel
        randomizeParameters(layer, seed: 21)
        let x = randomTensor([c.n, c.c, c.h, c.w], seed: 22)
        let y = layer.forward(x)
        let ref = referenceConv2D(
            x: x.array, n: c.n, c: c.c, h: c.h, w: c.w, weight: layer.weight.value.array,
            bias: layer.bias.value.array, o: c.o, k: c.k, s: c.s)
        #expect(y.shape == [c.n, c.o, (c.h + c.s - 1) / c.s, (c.w + c.s - 1) / c.s])
        #expect(maxAbsDiff(y.array, ref) < 1e-5)
    }

    @Test(arguments: ConvCase.all, [ConvolutionKernel.gemm, .direct])
    func convTranspose2DMatchesDirectLoops(_ c: ConvCase, _ kernel: ConvolutionKernel) {
        let layer = ConvTranspose2D(
            name: "deconv", inputChannels: c.c, outputChannels: c.o, kernelSize: c.k, stride: c.s)
        layer.kernel = kernel
        randomizeParameters(layer, seed: 23)
        let x = randomTensor([c.n, c.c, c.h, c.w], seed: 24)
        let y = layer.forward(x)
        let ref = referenceConvTranspose2D(
            x: x.array, n: c.n, c: c.c, h: c.h, w: c.w, weight: layer.weight.value.array,
            bias: layer.bias.value.array, o: c.o, k: c.k, s: c.s)
        #expect(y.shape == [c.n, c.o, c.h * c.s, c.w * c.s])
        #expect(maxAbsDiff(y.array, ref) < 1e-5)
    }

    @Test func denseMatchesDirectLoops() {
        let layer = Dense(name: "dense", inputFeatures: 5, outputFeatures: 3)
        randomizeParameters(layer, seed: 25)
        let x = randomTensor([4, 5], seed: 26)
        let y = layer.forward(x).array
        let w = layer.weight.value.array
        let b = layer.bias.value.array
        let xv = x.array
        for i in 0..<4 {
            for j in 0..<3 {
                var acc = b[j]
                for k in 0..<5 { acc += xv[i * 5 + k] * w[j * 5 + k] }
                #expect(abs(y[i * 3 + j] - acc) < 1e-5)
            }
        }
    }

    /// Frozen weights (W^T transposed once) give the bits of the unfrozen forward, on the encoder's
    /// dense shape (`vl_sgemm_bt` where it runs) and a small one (OpenBLAS), and thawing drops them.
    @Test(arguments: [(128, 3136, 256), (4, 7, 5)])
    func denseFrozenForwardKeepsTheBits(_ shape: (Int, Int, Int)) {
        let (n, inputs, outputs) = shape
        let layer = Dense(name: "dense", inputFeatures: inputs, outputFeatures: outputs)
        randomizeParameters(layer, seed: 27)
        let x = randomTensor([n, inputs], seed: 28)
        let plain = layer.forward(x).array.map(\.bitPattern)
        layer.freezeWeights(true)
        #expect(layer.forward(x).array.map(\.bitPattern) == plain)
        layer.freezeWeights(false)
        _ = layer.backward(randomTensor([n, outputs], seed: 29))  // allowed again once thawed
        #expect(layer.forward(x).array.map(\.bitPattern) == plain)
    }

    /// <conv(x), y> = <x, convT(y)> with the same weights and no bias: the two layers are adjoint.
    @Test(arguments: ConvCase.all, [ConvolutionKernel.gemm, .direct])
    func convAndTransposedConvAreAdjoint(_ c: ConvCase, _ kernel: ConvolutionKernel) {
        // conv: [C, H*s, W*s] -> [O, H, W] when H*s divides evenly; convT maps [O, H, W] -> [C, H*s, W*s].
        let conv = Conv2D(name: "conv", inputChannels: c.c, outputChannels: c.o, kernelSize: c.k, stride: c.s)
        let convT = ConvTranspose2D(
            name: "convT", inputChannels: c.o, outputChannels: c.c, kernelSize: c.k, stride: c.s)
        convT.kernel = kernel
        randomizeParameters(conv, seed: 27)
        conv.bias.value.zero()
        convT.weight.value.copy(from: conv.weight.value)  // [O, C, k, k] is convT's [C_in=O, C_out=C, k, k]
        convT.bias.value.zero()
        let x = randomTensor([c.n, c.c, c.h * c.s, c.w * c.s], seed: 28)
        let y = randomTensor([c.n, c.o, c.h, c.w], seed: 29)
        let cx = conv.forward(x)
        #expect(cx.shape == y.shape)
        let ty = convT.forward(y)
        let lhs = dotDouble(cx.data, y.data, y.count)
        let rhs = dotDouble(x.data, ty.data, x.count)
        #expect(abs(lhs - rhs) < 1e-4 * max(1, abs(lhs)))
    }

    @Test func im2colAndCol2imAreAdjoint() {
        let g = ConvGeometry.same(channels: 3, height: 7, width: 6, kernel: 3, stride: 2)
        let n = 2
        let x = randomTensor([n, 3, 7, 6], seed: 30)
        let c = randomTensor([g.patchSize, n * g.outPlane], seed: 31)
        let col = Tensor(zeros: c.shape)
        let back = Tensor(zeros: x.shape)
        im2col(x.data, batch: n, g, into: col.data)
        col2im(c.data, batch: n, g, into: back.data)
        let lhs = dotDouble(col.data, c.data, c.count)
        let rhs = dotDouble(x.data, back.data, x.count)
        #expect(abs(lhs - rhs) < 1e-4 * max(1, abs(lhs)))
    }

    @Test func sameGeometryFollowsTensorFlow() {
        let g = ConvGeometry.same(channels: 1, height: 28, width: 28, kernel: 3, stride: 2)
        #expect((g.outHeight, g.padTop, g.padLeft) == (14, 0, 0))  // pad total 1: all after
        let odd = ConvGeometry.same(channels: 1, height: 7, width: 7, kernel: 3, stride: 2)
        #expect((odd.outHeight, odd.padTop) == (4, 1))  // pad total 2: 1 + 1
        let s1 = ConvGeometry.same(channels: 1, height: 28, width: 28, kernel: 3, stride: 1)
        #expect((s1.outHeight, s1.padTop) == (28, 1))
    }
}

@Suite("im2col fast path")
struct Im2colFastPathTests {
    /// Shapes (n, c, h, w): output rows of 1 to 16 pixels (the vector path's 8- and 16-lane
    /// stores), and 18 (the general loops).
    static let shapes = [
        (2, 3, 4, 4), (1, 2, 14, 14), (3, 1, 6, 10), (2, 2, 2, 2), (3, 2, 28, 28), (2, 2, 32, 32), (1, 2, 34, 36),
    ]

    /// The stride-2 path must give every entry its definition (computed by hand here).
    @Test(arguments: shapes)
    func stride2PathMatchesDirectDefinition(_ shape: (Int, Int, Int, Int)) {
        let (n, c, h, w) = shape
        let g = ConvGeometry.same(channels: c, height: h, width: w, kernel: 3, stride: 2)
        #expect(g.isEvenStride2Kernel3)
        let x = randomTensor([n, c, h, w], seed: 50)
        let col = Tensor(zeros: [g.patchSize, n * g.outPlane])
        im2col(x.data, batch: n, g, into: col.data)
        // Direct definition of every entry.
        var worst: Float = 0
        for ch in 0..<c {
            for ki in 0..<3 {
                for kj in 0..<3 {
                    for b in 0..<n {
                        for y in 0..<g.outHeight {
                            for xo in 0..<g.outWidth {
                                let iy = 2 * y + ki
                                let ix = 2 * xo + kj
                                let expected: Float = iy < h && ix < w ? x.data[((b * c + ch) * h + iy) * w + ix] : 0
                                let got = col.data[
                                    ((ch * 3 + ki) * 3 + kj) * n * g.outPlane + b * g.outPlane + y * g.outWidth + xo]
                                worst = max(worst, abs(expected - got))
                            }
                        }
                    }
                }
            }
        }
        #expect(worst == 0)
        // col2im is its adjoint, with and without accumulation.
        let r = randomTensor(col.shape, seed: 51)
        let back = Tensor(zeros: x.shape)
        col2im(r.data, batch: n, g, into: back.data)
        let lhs = dotDouble(col.data, r.data, r.count)
        let rhs = dotDouble(x.data, back.data, x.count)
        #expect(abs(lhs - rhs) < 1e-4 * max(1, abs(lhs)))
        let twice = Tensor(zeros: x.shape)
        twice.copy(from: back)
        col2im(r.data, batch: n, g, into: twice.data, accumulate: true)
        #expect(maxAbsDiff(twice.array, back.array.map { 2 * $0 }) < 1e-5)
    }

    /// col2im's stride-2 path gives exactly the sum, from +0 and in (ki, kj) order, of the col
    /// entries that land on each pixel, then + bias and ReLU: the order every run's bits rest on.
    @Test(arguments: shapes)
    func stride2Col2imIsTheOrderedSum(_ shape: (Int, Int, Int, Int)) {
        let (n, c, h, w) = shape
        let g = ConvGeometry.same(channels: c, height: h, width: w, kernel: 3, stride: 2)
        // Magnitudes 2^-8 ... 2^8: most sums round, so any other order shows.
        let col = randomTensor([g.patchSize, n * g.outPlane], seed: 52)
        for i in 0..<col.count { col.data[i] *= Float(sign: .plus, exponent: i % 17 - 8, significand: 1) }
        let bias = randomTensor([c], seed: 53)
        for relu in [false, true] {
            let x = Tensor(zeros: [n, c, h, w])
            col2im(col.data, batch: n, g, into: x.data, bias: bias.data, relu: relu)
            var mismatches = 0
            for b in 0..<n {
                for ch in 0..<c {
                    for iy in 0..<h {
                        for ix in 0..<w {
                            var sum: Float = 0
                            for ki in 0..<3 where (iy - ki) >= 0 && (iy - ki) % 2 == 0 && (iy - ki) / 2 < g.outHeight {
                                for kj in 0..<3
                                where (ix - kj) >= 0 && (ix - kj) % 2 == 0 && (ix - kj) / 2 < g.outWidth {
                                    let column = b * g.outPlane + (iy - ki) / 2 * g.outWidth + (ix - kj) / 2
                                    sum += col.data[((ch * 3 + ki) * 3 + kj) * n * g.outPlane + column]
                                }
                            }
                            var expected = sum + bias.data[ch]
                            if relu { expected = expected > 0 ? expected : 0 }
                            if x.data[((b * c + ch) * h + iy) * w + ix].bitPattern != expected.bitPattern {
                                mismatches += 1
                            }
                        }
                    }
                }
            }
            #expect(mismatches == 0, "relu: \(relu)")
        }
    }
    /// On a tile of a channel-major batch (a fused run's hand-over), im2col reads and col2im writes
    /// that tile's planes only: the vector stores that run past a plane stay inside the pass, and
    /// both give what they give on the same images as NCHW.
    @Test(arguments: [(14, 4), (28, 3), (20, 2)])
    func stride2PassesOnAChannelMajorTile(_ shape: (Int, Int)) {
        let (size, c) = shape
        let (n, start, count) = (5, 2, 2)  // images 2 and 3 of 5
        let g = ConvGeometry.same(channels: c, height: size, width: size, kernel: 3, stride: 2)
        let p = size * size
        let whole = randomTensor([c, n, size, size], seed: 54)
        let tile = Tensor(zeros: [count, c, size, size])  // the same images, NCHW
        for b in 0..<count {
            for ch in 0..<c {
                for i in 0..<p { tile.data[(b * c + ch) * p + i] = whole.data[(ch * n + start + b) * p + i] }
            }
        }
        let channelMajor = vl_planes(image: p, channel: n * p)  // [C, N, H, W]
        let cols = count * g.outPlane
        let sentinel: Float = 7
        let (expected, got) = (Tensor(zeros: [g.patchSize, cols]), Tensor(zeros: [g.patchSize * cols + 64]))
        got.data.update(repeating: sentinel, count: got.count)
        im2col(tile.data, batch: count, g, into: expected.data)
        im2col(whole.data + start * p, batch: count, g, planes: channelMajor, into: got.data)
        #expect(Array(got.array[..<expected.count]) == expected.array)
        #expect(got.array[expected.count...].allSatisfy { $0 == sentinel })

        let col = randomTensor([g.patchSize, cols], seed: 55)
        let bias = randomTensor([c], seed: 56)
        let nchw = Tensor(zeros: tile.shape)
        col2im(col.data, batch: count, g, into: nchw.data, bias: bias.data, relu: true)
        whole.data.update(repeating: sentinel, count: whole.count)
        col2im(
            col.data, batch: count, g, into: whole.data + start * p, planes: channelMajor, bias: bias.data, relu: true)
        var mismatches = 0
        for b in 0..<n {
            for ch in 0..<c {
                for i in 0..<p {
                    let value = whole.data[(ch * n + b) * p + i]
                    let inTile = (start..<(start + count)).contains(b)
                    let want = inTile ? nchw.data[((b - start) * c + ch) * p + i] : sentinel
                    if value.bitPattern != want.bitPattern { mismatches += 1 }
                }
            }
        }
        #expect(mismatches == 0)
    }
}

@Suite("Fused ReLU")
struct FusedReLUTests {
    /// A layer with `fusedReLU` must give exactly what the layer followed by `ReLU` gives:
    /// the same output, input gradient and parameter gradients.
    func check(_ make: () -> Layer, setFused: (Layer) -> Void, input: Tensor) {
        let fused = make()
        let plain = make()
        setFused(fused)
        randomizeParameters(fused, seed: 60)
        randomizeParameters(plain, seed: 60)
        let relu = ReLU()
        let y1 = fused.forward(input)
        let y2 = relu.forward(plain.forward(input))
        #expect(y1.array == y2.array)
        #expect(y1.array.contains { $0 == 0 } && y1.array.contains { $0 > 0 })
        let dy = randomTensor(y1.shape, seed: 61)
        let dx1 = fused.backward(dy).array
        let dx2 = plain.backward(relu.backward(dy)).array
        #expect(maxAbsDiff(dx1, dx2) < 1e-6)
        for (a, b) in zip(fused.parameters, plain.parameters) { #expect(maxAbsDiff(a.grad.array, b.grad.array) < 1e-5) }
    }

    @Test func conv2D() {
        check(
            { Conv2D(name: "c", inputChannels: 3, outputChannels: 4, kernelSize: 3, stride: 2) },
            setFused: { ($0 as! Conv2D).fusedReLU = true }, input: randomTensor([2, 3, 6, 6], seed: 62))
    }

    @Test func convTranspose2D() {
        check(
            { ConvTranspose2D(name: "t", inputChannels: 3, outputChannels: 2, kernelSize: 3, stride: 2) },
            setFused: { ($0 as! ConvTranspose2D).fusedReLU = true }, input: randomTensor([2, 3, 4, 5], seed: 63))
    }

    /// The encoder's first layer: direct forward and weight gradients (no input gradient).
    @Test(arguments: [(2, 1, 5, 8, 6), (3, 2, 3, 4, 10)])
    func conv2DDirectKernelWithoutInputGradient(_ s: (Int, Int, Int, Int, Int)) {
        check(
            {
                let layer = Conv2D(name: "c", inputChannels: s.1, outputChannels: s.2, kernelSize: 3, stride: 2)
                layer.computesInputGradient = false
                return layer
            }, setFused: { ($0 as! Conv2D).fusedReLU = true }, input: randomTensor([s.0, s.1, s.3, s.4], seed: 66))
        let direct = Conv2D(name: "c", inputChannels: s.1, outputChannels: s.2, kernelSize: 3, stride: 2)
        let gemm = Conv2D(name: "c", inputChannels: s.1, outputChannels: s.2, kernelSize: 3, stride: 2)
        for l in [direct, gemm] {
            l.computesInputGradient = false
            l.fusedReLU = true
            randomizeParameters(l, seed: 67)
        }
        direct.kernel = .direct
        gemm.kernel = .gemm
        let x = randomTensor([s.0, s.1, s.3, s.4], seed: 68)
        #expect(maxAbsDiff(direct.forward(x).array, gemm.forward(x).array) < 1e-5)
        let dy = randomTensor(direct.outputShape(for: x.shape), seed: 69)
        _ = direct.backward(dy)
        _ = gemm.backward(dy)
        #expect(maxAbsDiff(direct.weight.grad.array, gemm.weight.grad.array) < 1e-4)
        #expect(maxAbsDiff(direct.bias.grad.array, gemm.bias.grad.array) < 1e-4)
    }

    @Test func convTranspose2DDirectKernel() {
        check(
            { ConvTranspose2D(name: "t", inputChannels: 3, outputChannels: 2, kernelSize: 3, stride: 1) },
            setFused: { ($0 as! ConvTranspose2D).fusedReLU = true }, input: randomTensor([2, 3, 5, 4], seed: 65))
    }

    @Test func dense() {
        check(
            { Dense(name: "d", inputFeatures: 7, outputFeatures: 5) },
            setFused: { ($0 as! Dense).fusedReLU = true }, input: randomTensor([4, 7], seed: 64))
    }
}

@Suite("Layers: channel-major hand-over between transposed convolutions")
struct ChannelMajorLayoutTests {
    /// [A, B, H, W] -> [B, A, H, W]: NCHW <-> channel-major.
    static func swapLeadingAxes(_ t: Tensor) -> Tensor {
        let (a, b, p) = (t.shape[0], t.shape[1], t.shape[2] * t.shape[3])
        let out = Tensor(zeros: [b, a, t.shape[2], t.shape[3]])
        for i in 0..<a {
            for j in 0..<b { for k in 0..<p { out.data[(j * a + i) * p + k] = t.data[(i * b + j) * p + k] } }
        }
        return out
    }

    /// A layer reading and writing channel-major tensors computes the NCHW layer's bits, permuted:
    /// forward, input gradient and parameter gradients. 20 images of 8 -> 64 channels, 7 -> 14
    /// (deconv1's plane) make tiles of 9 images, so three tiles (9, 9, 2) at their offsets.
    @Test(arguments: [
        (ActivationLayout.channelMajor, ActivationLayout.nchw), (.nchw, .channelMajor), (.channelMajor, .channelMajor),
    ])
    func givesTheNCHWLayersBits(_ input: ActivationLayout, _ output: ActivationLayout) {
        func make(_ input: ActivationLayout, _ output: ActivationLayout) -> ConvTranspose2D {
            let layer = ConvTranspose2D(name: "deconv", inputChannels: 8, outputChannels: 64, kernelSize: 3, stride: 2)
            layer.fusedReLU = true
            (layer.inputLayout, layer.outputLayout) = (input, output)
            randomizeParameters(layer, seed: 31)
            return layer
        }
        let reference = make(.nchw, .nchw)
        let layer = make(input, output)
        let x = randomTensor([20, 8, 7, 7], seed: 32)
        let dy = randomTensor([20, 64, 14, 14], seed: 33)
        let y = reference.forward(x)
        let yl = layer.forward(input == .nchw ? x : Self.swapLeadingAxes(x))
        #expect(yl.shape == layer.outputShape(for: input.shape(batch: 20, channels: 8, height: 7, width: 7)))
        #expect((output == .nchw ? yl : Self.swapLeadingAxes(yl)).array == y.array)
        #expect(y.array.contains(0) && y.array.contains { $0 > 0 }, "the ReLU's mask has both sides")
        let dx = reference.backward(dy)
        let dxl = layer.backward(output == .nchw ? dy : Self.swapLeadingAxes(dy))
        #expect((input == .nchw ? dxl : Self.swapLeadingAxes(dxl)).array == dx.array)
        #expect(layer.weight.grad.array == reference.weight.grad.array)
        #expect(layer.bias.grad.array == reference.bias.grad.array)
        #expect(
            layer.forwardFLOPs(inputShape: input.shape(batch: 20, channels: 8, height: 7, width: 7))
                == reference.forwardFLOPs(inputShape: [20, 8, 7, 7]))
    }
}

@Suite("Layers: a fused ReLU's backward mask applied by the next layer")
struct HandedOverMaskTests {
    /// A pair of layers: upper (stride 2, fused ReLU) -> lower.
    struct Pair: CustomTestStringConvertible, Sendable {
        var lowerStride: Int, lowerOutput: Int, kernel: ConvolutionKernel, layout: ActivationLayout
        var images: Int, size: Int
        var testDescription: String { "lower s\(lowerStride) ->\(lowerOutput) \(kernel) \(layout) \(images)x\(size)" }

        func make(flagged: Bool) -> (ConvTranspose2D, ConvTranspose2D) {
            let upper = ConvTranspose2D(name: "u", inputChannels: 4, outputChannels: 5, kernelSize: 3, stride: 2)
            let lower = ConvTranspose2D(
                name: "l", inputChannels: 5, outputChannels: lowerOutput, kernelSize: 3, stride: lowerStride)
            upper.fusedReLU = true
            lower.kernel = kernel
            (upper.outputLayout, lower.inputLayout) = (layout, layout)
            if flagged { ConvTranspose2D.handOverReLUMask(from: upper, to: lower) }
            randomizeParameters(upper, seed: 41)
            randomizeParameters(lower, seed: 42)
            return (upper, lower)
        }
    }

    /// deconv2 -> deconv3 (direct and GEMM; planes of 14 x 14, 12 vectors and a tail of 4, and of
    /// 8 x 8, whole vectors) and deconv1 -> deconv2 (channel-major hand-over; 20 images of 6 x 6
    /// make two tiles, of 12 and 8).
    static let pairs = [
        Pair(lowerStride: 1, lowerOutput: 1, kernel: .direct, layout: .nchw, images: 3, size: 7),
        Pair(lowerStride: 1, lowerOutput: 1, kernel: .direct, layout: .nchw, images: 2, size: 4),
        Pair(lowerStride: 1, lowerOutput: 1, kernel: .gemm, layout: .nchw, images: 3, size: 7),
        Pair(lowerStride: 2, lowerOutput: 3, kernel: .gemm, layout: .nchw, images: 2, size: 4),
        Pair(lowerStride: 2, lowerOutput: 64, kernel: .gemm, layout: .channelMajor, images: 20, size: 3),
    ]

    /// The lower layer masking its input gradient and the upper one skipping its own mask compute
    /// the unflagged pair's bits: the lower input gradient (masked), the upper input gradient and
    /// both layers' parameter gradients.
    @Test(arguments: pairs)
    func givesTheUnflaggedBits(_ pair: Pair) {
        let x = randomTensor([pair.images, 4, pair.size, pair.size], seed: 43)
        let (u0, l0) = pair.make(flagged: false)
        let (u1, l1) = pair.make(flagged: true)
        let hidden = u0.forward(x).array
        let y0 = l0.forward(u0.forward(x))
        let y1 = l1.forward(u1.forward(x))
        #expect(y1.array == y0.array)
        #expect(hidden.contains(0) && hidden.contains { $0 > 0 }, "the ReLU's mask has both sides")
        let dy = randomTensor(y0.shape, seed: 44)
        let d0 = l0.backward(dy)
        let d1 = l1.backward(dy)
        let maskedByLower = d1.array == zip(d0.array, hidden).map { $1 > 0 ? $0 : 0 }
        #expect(maskedByLower, "the lower layer's input gradient, masked")
        let upperInputGradient = u1.backward(d1).array == u0.backward(d0).array
        #expect(upperInputGradient, "the upper layer's input gradient")
        for (a, b) in zip(u1.parameters + l1.parameters, u0.parameters + l0.parameters) {
            let same = a.grad.array == b.grad.array
            #expect(same, "the gradient of \(a.name)")
        }
    }
}
