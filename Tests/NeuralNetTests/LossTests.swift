import Foundation
import NeuralNet
import Testing

@Suite("Losses and the reparameterisation")
struct LossTests {
    @Test func bceMatchesNaiveFormulaAndIsStable() {
        let logits: [Float] = [-100, -3, -0.5, 0, 0.5, 3, 100, 2]
        let targets: [Float] = [0, 0.2, 1, 0.5, 0, 1, 1, 0.7]
        var per = [Double](repeating: 0, count: 2)
        let mean = Loss.bceWithLogits(logits: logits, targets: targets, batch: 2, perImage: 4, perImageLoss: &per)
        func naive(_ l: Double, _ x: Double) -> Double {
            // log-sigmoid computed stably in Double.
            let logSig = l >= 0 ? -log1p(exp(-l)) : l - log1p(exp(l))
            let logOneMinus = logSig - l
            return -(x * logSig + (1 - x) * logOneMinus)
        }
        var expected = [0.0, 0.0]
        for i in 0..<8 { expected[i / 4] += naive(Double(logits[i]), Double(targets[i])) }
        #expect(abs(per[0] - expected[0]) < 1e-4 && abs(per[1] - expected[1]) < 1e-4)
        #expect(abs(mean - (expected[0] + expected[1]) / 2) < 1e-4)
        #expect(mean.isFinite)
    }

    /// The vectorised loss (polynomial e^-|l| and log1p) against libm in Double, pixel by pixel
    /// (one pixel per image), over logits from -120 to 120 (dense near 0 and around the switch of
    /// log1p's two ranges) and targets 0, 0.3 and 1: within a few float ulps of the value.
    @Test func bceMatchesDoublePrecisionPixelByPixel() {
        var logits: [Float] = stride(from: -120, through: 120, by: 0.37).map { Float($0) }
        logits += stride(from: -2, through: 2, by: 0.001).map { Float($0) }
        logits += [0, -0, 1e-30, -1e-30, 1e-7, -1e-7, -log(0.41421356), log(0.41421356), 86, -86, 90, -1000, 1000]
        for target: Float in [0, 0.3, 1] {
            let targets = [Float](repeating: target, count: logits.count)
            var per = [Double](repeating: 0, count: logits.count)
            var grad = [Float](repeating: 0, count: logits.count)
            Loss.bceWithLogits(
                logits: logits, targets: targets, batch: logits.count, perImage: 1, perImageLoss: &per,
                gradient: &grad)
            for (i, l) in logits.map(Double.init).enumerated() {
                let x = Double(target)
                let loss = max(l, 0) - l * x + log1p(exp(-abs(l)))
                let sigmoid = 1 / (1 + exp(-l))
                #expect(abs(per[i] - loss) <= 4e-7 * max(loss, 1e-30) + 1e-7 * abs(l * x), "loss at l = \(l), x = \(x)")
                #expect(abs(Double(grad[i]) - (sigmoid - x)) <= 2.5e-7, "gradient at l = \(l), x = \(x)")
            }
        }
    }

    @Test func bceGradientMatchesFiniteDifferences() {
        var logits = randomTensor([3, 10], seed: 40, low: -5, high: 5).array
        let targets = randomTensor([3, 10], seed: 41, low: 0, high: 1).array
        var grad = [Float](repeating: 0, count: 30)
        Loss.bceWithLogits(
            logits: logits, targets: targets, batch: 3, perImage: 10, gradient: &grad, gradScale: 1.0 / 3)
        for i in 0..<30 {
            let saved = logits[i]
            logits[i] = saved + 1e-2
            let up = Loss.bceWithLogits(logits: logits, targets: targets, batch: 3, perImage: 10)
            logits[i] = saved - 1e-2
            let down = Loss.bceWithLogits(logits: logits, targets: targets, batch: 3, perImage: 10)
            logits[i] = saved
            #expect(abs((up - down) / 2e-2 - Double(grad[i])) < 1e-3)
        }
    }

    @Test func klValueAndGradients() {
        var mu = randomTensor([2, 3], seed: 42).array
        var lv = randomTensor([2, 3], seed: 43).array
        var gMu = [Float](repeating: 0, count: 6)
        var gLv = [Float](repeating: 0, count: 6)
        let kl = Loss.gaussianKL(
            mu: mu, logVar: lv, batch: 2, dimensions: 3, gradMu: &gMu, gradLogVar: &gLv, gradScale: 0.5)
        var expected = 0.0
        for i in 0..<6 { expected += -0.5 * (1 + Double(lv[i]) - Double(mu[i] * mu[i]) - exp(Double(lv[i]))) }
        #expect(abs(kl - expected / 2) < 1e-5)
        // Zero at the prior.
        let zero = [Float](repeating: 0, count: 6)
        #expect(Loss.gaussianKL(mu: zero, logVar: zero, batch: 2, dimensions: 3) == 0)
        for i in 0..<6 {
            func value() -> Double { Loss.gaussianKL(mu: mu, logVar: lv, batch: 2, dimensions: 3) }
            let s = mu[i]
            mu[i] = s + 1e-2
            let up = value()
            mu[i] = s - 1e-2
            let down = value()
            mu[i] = s
            #expect(abs((up - down) / 2e-2 - Double(gMu[i])) < 1e-3)
            let t = lv[i]
            lv[i] = t + 1e-2
            let up2 = value()
            lv[i] = t - 1e-2
            let down2 = value()
            lv[i] = t
            #expect(abs((up2 - down2) / 2e-2 - Double(gLv[i])) < 1e-3)
        }
    }

    @Test func reparameterisationGradients() {
        var mu: [Float] = [0.3, -1.2, 0.7]
        var lv: [Float] = [0.1, -0.8, 1.1]
        let eps: [Float] = [0.5, -1.5, 2.0]
        let r: [Float] = [0.9, -0.4, 1.3]
        var z = [Float](repeating: 0, count: 3)
        func loss() -> Double {
            Loss.reparameterize(mu: mu, logVar: lv, eps: eps, into: &z, count: 3)
            return dotDouble(z, r, 3)
        }
        var gMu = [Float](repeating: 0, count: 3)
        var gLv = [Float](repeating: 0, count: 3)
        Loss.reparameterizeBackward(dz: r, logVar: lv, eps: eps, gradMu: &gMu, gradLogVar: &gLv, count: 3)
        for i in 0..<3 {
            let s = mu[i]
            mu[i] = s + 1e-2
            let a = loss()
            mu[i] = s - 1e-2
            let b = loss()
            mu[i] = s
            #expect(abs((a - b) / 2e-2 - Double(gMu[i])) < 1e-3)
            let t = lv[i]
            lv[i] = t + 1e-2
            let c = loss()
            lv[i] = t - 1e-2
            let d = loss()
            lv[i] = t
            #expect(abs((c - d) / 2e-2 - Double(gLv[i])) < 1e-3)
        }
    }
}

@Suite("Adam and initialisation")
struct OptimizerTests {
    @Test func adamFirstStepsMatchHandComputation() {
        let adam = Adam(count: 2)  // lr 1e-3, b1 0.9, b2 0.999, eps 1e-7
        var p: [Float] = [1.0, -2.0]
        let g1: [Float] = [0.5, -0.1]
        adam.update(&p, gradients: g1)
        // Step 1: m = 0.1 g, v = 0.001 g^2, alpha = 1e-3 * sqrt(0.001) / 0.1, update = alpha * m / (sqrt(v) + eps)
        //       = 1e-3 * sign(g) (up to eps): Adam's first step is lr in the direction of -g.
        #expect(abs(p[0] - (1.0 - 1e-3)) < 1e-6)
        #expect(abs(p[1] - (-2.0 + 1e-3)) < 1e-6)
        let g2: [Float] = [0.25, 0.3]
        adam.update(&p, gradients: g2)
        // Step 2 by hand (in Double).
        func expected(_ p1: Double, _ a: Double, _ b: Double) -> Double {
            let m = 0.9 * (0.1 * a) + 0.1 * b
            let v = 0.999 * (0.001 * a * a) + 0.001 * b * b
            let alpha = 1e-3 * (1 - 0.999 * 0.999).squareRoot() / (1 - 0.9 * 0.9)
            return p1 - alpha * m / (v.squareRoot() + 1e-7)
        }
        #expect(abs(Double(p[0]) - expected(1.0 - 1e-3, 0.5, 0.25)) < 1e-6)
        #expect(abs(Double(p[1]) - expected(-2.0 + 1e-3, -0.1, 0.3)) < 1e-6)
        #expect(adam.step == 2)
    }

    /// The vectorised update (NNKernels) against the plain scalar formula, bit for bit: no fused
    /// multiply-adds, IEEE sqrt and division, so the same bits at every vector width (checkpoints
    /// and metrics from before it stay reproducible). 1,013 parameters: full vectors and a tail.
    @Test func adamUpdateIsTheScalarFormulaBitForBit() {
        let n = 1013
        var rng = Xoshiro256(seed: 5)
        var p = (0..<n).map { _ in rng.uniform(-1, 1) }
        var ref = p
        var m = [Float](repeating: 0, count: n)
        var v = m
        let adam = Adam(count: n)
        for step in 1...3 {
            let g = (0..<n).map { i in i % 97 == 0 ? 0 : rng.uniform(-2, 2) * Float(step) }
            adam.update(&p, gradients: g)
            let t = Double(step)
            let (lr, b1, b2, eps): (Float, Float, Float, Float) = (1e-3, 0.9, 0.999, 1e-7)
            let alpha = Float(Double(lr) * (1 - pow(Double(b2), t)).squareRoot() / (1 - pow(Double(b1), t)))
            let (c1, c2) = (1 - b1, 1 - b2)
            for i in 0..<n {
                let mi = b1 * m[i] + c1 * g[i]
                let vi = b2 * v[i] + c2 * g[i] * g[i]
                m[i] = mi
                v[i] = vi
                ref[i] -= alpha * mi / (vi.squareRoot() + eps)
            }
            #expect(p.map(\.bitPattern) == ref.map(\.bitPattern), "step \(step)")
            #expect(
                (0..<n).allSatisfy {
                    adam.m[$0].bitPattern == m[$0].bitPattern && adam.v[$0].bitPattern == v[$0].bitPattern
                })
        }
    }

    @Test func adamFitsALine() {
        // y = 3x - 1 by least squares on 8 points.
        let adam = Adam(count: 2, learningRate: 0.05)
        var p: [Float] = [0, 0]
        let xs: [Float] = (0..<8).map { Float($0) / 4 - 1 }
        for _ in 0..<2000 {
            var g: [Float] = [0, 0]
            for x in xs {
                let e = p[0] * x + p[1] - (3 * x - 1)
                g[0] += 2 * e * x / 8
                g[1] += 2 * e / 8
            }
            adam.update(&p, gradients: g)
        }
        #expect(abs(p[0] - 3) < 1e-2 && abs(p[1] + 1) < 1e-2)
    }

    @Test func glorotUniformBoundsAndContiguousStore() {
        let conv = Conv2D(name: "conv1", inputChannels: 3, outputChannels: 8, kernelSize: 3, stride: 1)
        let dense = Dense(name: "dense", inputFeatures: 50, outputFeatures: 10)
        let store = ParameterStore([
            ("conv1.weight", conv.weight), ("conv1.bias", conv.bias),
            ("dense.weight", dense.weight), ("dense.bias", dense.bias),
        ])
        #expect(store.count == 8 * 3 * 9 + 8 + 500 + 10)
        var rng = Xoshiro256(seed: 0, stream: .initialization)
        store.glorotUniformInit(&rng)
        let convLimit = (6.0 / Float(27 + 72)).squareRoot()
        #expect(conv.weight.value.array.allSatisfy { abs($0) <= convLimit })
        #expect(conv.weight.value.array.contains { abs($0) > convLimit * 0.9 })
        #expect(conv.bias.value.array.allSatisfy { $0 == 0 })
        // Views: writing through the store is visible in the parameter.
        #expect(dense.weight.value.data == store.values + 8 * 27 + 8)
        store.values[8 * 27 + 8] = 42
        #expect(dense.weight.value[0] == 42)
    }

    /// A replica's store viewing its owner's values: the replica's parameters read what is
    /// written into the owner, its gradients stay its own, and the values outlive the owner.
    @Test func sharedValuesAreViewsOfTheOwner() {
        func store() -> (ParameterStore, Dense) {
            let dense = Dense(name: "dense", inputFeatures: 4, outputFeatures: 3)
            return (ParameterStore([("dense.weight", dense.weight), ("dense.bias", dense.bias)]), dense)
        }
        var (owner, _): (ParameterStore?, Dense) = store()
        let (replica, layer) = store()
        var rng = Xoshiro256(seed: 3, stream: .initialization)
        owner!.glorotUniformInit(&rng)
        replica.shareValues(of: owner!)
        #expect(replica.values == owner!.values)
        #expect(layer.weight.value.data == owner!.values && layer.bias.value.data == owner!.values + 12)
        owner!.values[12] = 7
        #expect(layer.bias.value[0] == 7)
        replica.gradients[0] = 1
        #expect(owner!.gradients[0] == 0)
        let weights = Array(UnsafeBufferPointer(start: owner!.values, count: 15))
        owner = nil
        #expect(Array(UnsafeBufferPointer(start: replica.values, count: 15)) == weights)
    }
}

@Suite("Random streams")
struct RandomTests {
    @Test func xoshiroMatchesReferenceSequence() {
        // Reference: xoshiro256** with state (1, 2, 3, 4) (Vigna's C code) gives 11520, 0, 1509978240,
        // 1215971899390074240.
        var rng = Xoshiro256(state: [1, 2, 3, 4])
        #expect(
            [rng.next(), rng.next(), rng.next(), rng.next()] == [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240])
    }

    @Test func splitMixMatchesReference() {
        // SplitMix64 seeded with 0 (Vigna's splitmix64.c): first output 0xE220A8397B1DCDAF.
        var sm = SplitMix64(seed: 0)
        #expect(sm.next() == 0xE220_A839_7B1D_CDAF)
    }

    @Test func streamsAreReproducibleAndIndependent() {
        var a = Xoshiro256(seed: 42, stream: .shuffle)
        var b = Xoshiro256(seed: 42, stream: .shuffle)
        let xs = (0..<100).map { _ in a.next() }
        let ys = (0..<100).map { _ in b.next() }
        #expect(xs == ys)
        var c = Xoshiro256(seed: 42, stream: .noise)
        let zs = (0..<100).map { _ in c.next() }
        #expect(Set(xs).isDisjoint(with: zs))
        var d = Xoshiro256(seed: 43, stream: .shuffle)
        #expect(d.next() != xs[0])
        // Drawing from one stream does not move another.
        var e1 = Xoshiro256(seed: 42, stream: .eval)
        _ = (0..<1000).map { _ in c.next() }
        var e2 = Xoshiro256(seed: 42, stream: .eval)
        #expect(e1.next() == e2.next())
    }

    @Test func uniformAndNormalMoments() {
        var rng = Xoshiro256(seed: 7)
        let n = 200_000
        var buffer = [Float](repeating: 0, count: n)
        buffer.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
        let mean = buffer.reduce(0.0) { $0 + Double($1) } / Double(n)
        let variance = buffer.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(n) - mean * mean
        #expect(abs(mean) < 0.01 && abs(variance - 1) < 0.02)
        let u = (0..<n).map { _ in rng.uniform() }
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(abs(u.reduce(0.0) { $0 + Double($1) } / Double(n) - 0.5) < 0.01)
        let perm = rng.permutation(1000)
        #expect(perm.sorted() == Array(0..<1000) && perm != Array(0..<1000))
    }
}
