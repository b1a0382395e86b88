import Foundation
import NeuralNet
import Testing

/// The continuous Bernoulli: its normaliser makes a density, its mean is the density's mean,
/// its series and closed forms agree where they meet, and its gradient matches differences.
@Suite("Likelihoods")
struct LikelihoodTests {
    /// Logits near λ = 1/2 (the series), at the switch and far from it (the closed forms).
    static let logits: [Double] = [0, 1e-6, -3e-4, 0.02, -0.0999, 0.1001, 0.25, -0.7, 2, -6, 15, -40]

    /// Simpson's rule on [0, 1] with 2000 panels.
    static func integrate(_ f: (Double) -> Double) -> Double {
        let n = 2000
        let h = 1.0 / Double(n)
        var s = f(0) + f(1)
        for i in 1..<n { s += f(Double(i) * h) * (i % 2 == 1 ? 4 : 2) }
        return s * h / 3
    }

    /// ∫ C(λ) λ^x (1-λ)^(1-x) dx = 1 and ∫ x p(x) dx = the mean, for every λ.
    @Test(arguments: logits) func normaliserMakesADensityWithItsMean(_ l: Double) {
        let lambda = 1 / (1 + exp(-l))
        let c = exp(Loss.continuousBernoulliLogNormalizer(l))
        func density(_ x: Double) -> Double { c * pow(lambda, x) * pow(1 - lambda, 1 - x) }
        #expect(abs(Self.integrate(density) - 1) < 1e-9, "λ = \(lambda)")
        let mean = Self.integrate { $0 * density($0) }
        #expect(abs(mean - Loss.continuousBernoulliMean(l)) < 1e-9, "λ = \(lambda)")
    }

    @Test func seriesAndClosedFormsMeetAtTheSwitch() {
        #expect(Loss.continuousBernoulliLogNormalizer(0) == log(2))
        #expect(Loss.continuousBernoulliMean(0) == 0.5)
        // The series below 0.1 and the closed forms from 0.1 on, one ulp apart.
        for (below, at) in [(0.1.nextDown, 0.1), ((-0.1).nextUp, -0.1)] {
            let logC = Loss.continuousBernoulliLogNormalizer
            #expect(abs(logC(below) - logC(at)) < 1e-14)
            let g = Loss.continuousBernoulliLogNormalizerDerivative
            #expect(abs(g(below) - g(at)) < 1e-12)
            #expect(abs(Loss.continuousBernoulliMean(below) - Loss.continuousBernoulliMean(at)) < 1e-14)
        }
        // Far out C(λ) ~ |l| and the mean tends to 0 or 1.
        #expect(abs(Loss.continuousBernoulliLogNormalizer(300) - log(300)) < 1e-12)
        #expect(abs(Loss.continuousBernoulliMean(300) - (1 - 1.0 / 300)) < 1e-12)
    }

    /// d log C / dl against central differences of the Double function, near and far from 1/2.
    @Test(arguments: logits) func logNormalizerDerivativeMatchesDifferences(_ l: Double) {
        let h = 1e-5
        let numeric =
            (Loss.continuousBernoulliLogNormalizer(l + h) - Loss.continuousBernoulliLogNormalizer(l - h)) / (2 * h)
        #expect(abs(numeric - Loss.continuousBernoulliLogNormalizerDerivative(l)) < 1e-8, "l = \(l)")
    }

    /// The per-image NLL is BCE - Σ log C, and its logit gradient matches differences.
    @Test func continuousBernoulliNLLAndGradient() {
        var logits = randomTensor([3, 8], seed: 50, low: -4, high: 4).array
        logits[0] = 0
        logits[1] = 0.03
        logits[2] = -0.08
        let targets = randomTensor([3, 8], seed: 51, low: 0, high: 1).array
        var per = [Double](repeating: 0, count: 3)
        var bce = per
        var grad = [Float](repeating: 0, count: 24)
        let cb = Likelihood.continuousBernoulli
        let mean = cb.negativeLogLikelihood(
            logits: logits, targets: targets, batch: 3, perImage: 8, perImageLoss: &per, gradient: &grad,
            gradScale: 1.0 / 3)
        Loss.bceWithLogits(logits: logits, targets: targets, batch: 3, perImage: 8, perImageLoss: &bce)
        for b in 0..<3 {
            let logC = (0..<8).reduce(0.0) { $0 + Loss.continuousBernoulliLogNormalizer(Double(logits[b * 8 + $1])) }
            #expect(abs(per[b] - (bce[b] - logC)) < 1e-9)
        }
        #expect(abs(mean - per.reduce(0, +) / 3) < 1e-12)
        for i in 0..<24 {
            let saved = logits[i]
            logits[i] = saved + 1e-2
            let up = cb.negativeLogLikelihood(logits: logits, targets: targets, batch: 3, perImage: 8)
            logits[i] = saved - 1e-2
            let down = cb.negativeLogLikelihood(logits: logits, targets: targets, batch: 3, perImage: 8)
            logits[i] = saved
            #expect(abs((up - down) / 2e-2 - Double(grad[i])) < 1e-3, "logit \(i) = \(saved)")
        }
    }

    /// Beyond logit(1 - ε) the normaliser and the mean stay at λ = ε or 1 - ε (as PyTorch's
    /// ContinuousBernoulli clamps them) and only the cross-entropy's gradient is left; PyTorch
    /// gives log p(0.3 | l = -50) = -12.2310 and log p(0 | l = -20) = 2.7690.
    @Test func clampedBeyondTheFloatEpsilon() {
        let bound = Loss.continuousBernoulliLogitBound
        #expect(abs(bound - 15.942385) < 1e-5)
        let logits: [Float] = [-50, -20, 30]
        let targets: [Float] = [0.3, 0, 1]
        var per = [Double](repeating: 0, count: 3)
        var grad = [Float](repeating: 0, count: 3)
        var bceGrad = grad
        Likelihood.continuousBernoulli.negativeLogLikelihood(
            logits: logits, targets: targets, batch: 3, perImage: 1, perImageLoss: &per, gradient: &grad)
        Loss.bceWithLogits(logits: logits, targets: targets, batch: 3, perImage: 1, gradient: &bceGrad)
        #expect(abs(-per[0] - -12.2310) < 1e-3 && abs(-per[1] - 2.7690) < 1e-3, "\(per)")
        #expect(grad == bceGrad)
        var mean = [Float](repeating: 0, count: 3)
        Likelihood.continuousBernoulli.mean(logits: logits, into: &mean, count: 3)
        #expect(mean[0] == mean[1] && mean[0] == Float(Loss.continuousBernoulliMean(-bound)))
    }

    /// Figures show the likelihood's mean: λ for the Bernoulli, the CB mean (not λ) for it.
    @Test func meansOfBothLikelihoods() {
        let logits: [Float] = [-3, 0, 0.05, 2]
        var y = [Float](repeating: 0, count: 4)
        Likelihood.bernoulli.mean(logits: logits, into: &y, count: 4)
        #expect(y == logits.map { 1 / (1 + expf(-$0)) })
        Likelihood.continuousBernoulli.mean(logits: logits, into: &y, count: 4)
        #expect(y == logits.map { Float(Loss.continuousBernoulliMean(Double($0))) })
        #expect(y[0] > 1 / (1 + expf(3)) && y[1] == 0.5, "the CB mean is less extreme than λ")
    }
}
