import NNKernels

#if canImport(Glibc)
    import Glibc
#endif

/// Losses with their gradients. Reduction everywhere: **sum over pixels (or latent dimensions),
/// mean over the batch**, so every value is "nats per image".
public enum Loss {
    /// Bernoulli cross-entropy from logits in the stable form
    /// max(l, 0) - l*x + log(1 + e^-|l|), summed over each image's `perImage` pixels
    /// (`vl_bce_with_logits`: 16 pixels at a time, e^-|l| and log1p by polynomials).
    ///
    /// Writes the per-image sums into `perImageLoss` (if given) and `gradScale * (sigmoid(l) - x)`
    /// into `gradient` (if given). Returns the batch mean (accumulated in Double).
    @discardableResult
    public static func bceWithLogits(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, batch n: Int, perImage: Int,
        perImageLoss: UnsafeMutablePointer<Double>? = nil,
        gradient: UnsafeMutablePointer<Float>? = nil, gradScale: Float = 1
    ) -> Double {
        vl_bce_with_logits(logits, targets, n, perImage, perImageLoss, gradient, gradScale)
    }

    /// KL(N(mu, e^logvar) || N(0, I)) = -1/2 * sum(1 + logvar - mu^2 - e^logvar) per example.
    ///
    /// Gradients `gradScale * mu` and `gradScale * (e^logvar - 1) / 2` are **added** to
    /// `gradMu` / `gradLogVar` when given. Returns the batch mean.
    @discardableResult
    public static func gaussianKL(
        mu: UnsafePointer<Float>, logVar: UnsafePointer<Float>, batch n: Int, dimensions d: Int,
        perExample: UnsafeMutablePointer<Double>? = nil,
        gradMu: UnsafeMutablePointer<Float>? = nil, gradLogVar: UnsafeMutablePointer<Float>? = nil,
        gradScale: Float = 1
    ) -> Double {
        var total = 0.0
        for b in 0..<n {
            var acc = 0.0
            for j in 0..<d {
                let i = b * d + j
                let m = mu[i]
                let lv = logVar[i]
                let e = expf(lv)
                acc += -0.5 * Double(1 + lv - m * m - e)
                gradMu?[i] += gradScale * m
                gradLogVar?[i] += gradScale * 0.5 * (e - 1)
            }
            perExample?[b] = acc
            total += acc
        }
        return total / Double(n)
    }

    /// log p(z) - log q(z|x) of one sample z = mu + e^(logvar/2) * eps of a d-dimensional
    /// posterior: sum_j [-z_j²/2 + eps_j²/2 + logvar_j/2] (the 2π terms cancel), in Double.
    /// The importance weight's prior-over-posterior part (the NLL bound, the IWAE).
    @inline(__always)
    public static func logPriorOverPosterior(
        z: UnsafePointer<Float>, eps: UnsafePointer<Float>, logVar: UnsafePointer<Float>, dimensions d: Int
    ) -> Double {
        var ratio = 0.0
        for j in 0..<d {
            let zz = Double(z[j])
            let e = Double(eps[j])
            ratio += -0.5 * zz * zz + 0.5 * e * e + 0.5 * Double(logVar[j])
        }
        return ratio
    }

    /// The reparameterisation z = mu + e^(logvar/2) * eps, elementwise over `count` values.
    public static func reparameterize(
        mu: UnsafePointer<Float>, logVar: UnsafePointer<Float>, eps: UnsafePointer<Float>,
        into z: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { z[i] = mu[i] + expf(0.5 * logVar[i]) * eps[i] }
    }

    /// Backward of `reparameterize`: dmu += dz; dlogvar += dz * eps * e^(logvar/2) / 2.
    public static func reparameterizeBackward(
        dz: UnsafePointer<Float>, logVar: UnsafePointer<Float>,
        eps: UnsafePointer<Float>, gradMu: UnsafeMutablePointer<Float>,
        gradLogVar: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count {
            gradMu[i] += dz[i]
            gradLogVar[i] += dz[i] * eps[i] * 0.5 * expf(0.5 * logVar[i])
        }
    }
}

// MARK: - Likelihoods

/// The decoder's likelihood p(x|z) of each pixel x in [0, 1] given its logit l, λ = sigmoid(l).
public enum Likelihood: String, Codable, CaseIterable, Sendable {
    /// Bernoulli: -log p = BCE(l, x). The reference study's; for continuous x it is not a
    /// normalised density on [0, 1] (its "NLL" is a cross-entropy, not a density's).
    case bernoulli
    /// The continuous Bernoulli (Loaiza-Ganem & Cunningham, NeurIPS 2019), a density on [0, 1]:
    /// p(x|λ) = C(λ) λ^x (1 - λ)^(1 - x), so -log p = BCE(l, x) - log C(λ).
    case continuousBernoulli = "continuous_bernoulli"

    /// -log p(x|l) summed over each image's `perImage` pixels; per-image sums into
    /// `perImageLoss`, `gradScale * d/dl` into `gradient` (both optional). Returns the batch mean.
    @discardableResult
    public func negativeLogLikelihood(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, batch n: Int, perImage: Int,
        perImageLoss: UnsafeMutablePointer<Double>? = nil,
        gradient: UnsafeMutablePointer<Float>? = nil, gradScale: Float = 1
    ) -> Double {
        switch self {
        case .bernoulli:
            return Loss.bceWithLogits(
                logits: logits, targets: targets, batch: n, perImage: perImage, perImageLoss: perImageLoss,
                gradient: gradient, gradScale: gradScale)
        case .continuousBernoulli:
            return Loss.continuousBernoulliNLL(
                logits: logits, targets: targets, batch: n, perImage: perImage, perImageLoss: perImageLoss,
                gradient: gradient, gradScale: gradScale)
        }
    }

    /// The decoder's mean image E[x] for `count` logits (what figures show): λ itself for the
    /// Bernoulli, the continuous Bernoulli's mean (not λ, and at λ clamped as in its NLL) for it.
    public func mean(logits: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .bernoulli:
            for i in 0..<count { y[i] = 1 / (1 + expf(-logits[i])) }
        case .continuousBernoulli:
            let bound = Loss.continuousBernoulliLogitBound
            for i in 0..<count {
                y[i] = Float(Loss.continuousBernoulliMean(min(max(Double(logits[i]), -bound), bound)))
            }
        }
    }
}

extension Loss {
    /// Continuous Bernoulli NLL: the Bernoulli cross-entropy (`bceWithLogits`, same bits) minus
    /// log C per pixel, C's terms summed in Double. Same arguments and result as `bceWithLogits`.
    ///
    /// C is taken at λ clamped to [ε, 1 - ε] (ε = 2^-23, Float's epsilon), i.e. at the logit
    /// clamped to ±`continuousBernoulliLogitBound`, as PyTorch's `ContinuousBernoulli` does: the
    /// density at an exact 0 or 1 pixel grows without bound as λ -> 0 or 1 (C(λ) ~ |l|), and
    /// MNIST's background is exact zeros, so unclamped logits diverge and the test loss with them.
    @discardableResult
    public static func continuousBernoulliNLL(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, batch n: Int, perImage: Int,
        perImageLoss: UnsafeMutablePointer<Double>? = nil,
        gradient: UnsafeMutablePointer<Float>? = nil, gradScale: Float = 1
    ) -> Double {
        var total = 0.0
        for b in 0..<n {
            let offset = b * perImage
            var nll = bceWithLogits(
                logits: logits + offset, targets: targets + offset, batch: 1, perImage: perImage,
                gradient: gradient.map { $0 + offset }, gradScale: gradScale)
            for i in offset..<(offset + perImage) {
                let l = Double(logits[i])
                let bounded = min(max(l, -continuousBernoulliLogitBound), continuousBernoulliLogitBound)
                nll -= continuousBernoulliLogNormalizer(bounded)
                if l == bounded {
                    gradient?[i] -= gradScale * Float(continuousBernoulliLogNormalizerDerivative(l))
                }
            }
            perImageLoss?[b] = nll
            total += nll
        }
        return total / Double(n)
    }

    /// logit(1 - ε) for ε = 2^-23: |l| beyond it counts as λ = ε or 1 - ε for log C and the mean.
    public static let continuousBernoulliLogitBound = log((1 - Double(Float.ulpOfOne)) / Double(Float.ulpOfOne))

    /// Below this |l| the closed forms cancel (λ near 1/2) and their Taylor series take over.
    static let continuousBernoulliSeriesBound = 0.1

    /// log C(λ) at λ = sigmoid(l). With 1 - 2λ = -tanh(l/2), C = 2 atanh(1-2λ)/(1-2λ) = l / tanh(l/2):
    /// log C = log|l| + log(1 + e^-|l|) - log(1 - e^-|l|); near l = 0 (C(1/2) = 2) the series
    /// log 2 + l²/12 - 7l⁴/1440 + 31l⁶/90720 - 127l⁸/4838400 (relative error < 1e-15 for |l| < 0.1).
    public static func continuousBernoulliLogNormalizer(_ l: Double) -> Double {
        let a = abs(l)
        if a < continuousBernoulliSeriesBound {
            let a2 = a * a
            return log(2) + a2 * (1.0 / 12 - a2 * (7.0 / 1440 - a2 * (31.0 / 90720 - a2 * 127.0 / 4_838_400)))
        }
        return log(a) + log1p(exp(-a)) - log(-expm1(-a))
    }

    /// d log C / dl = 1/l - 1/sinh(l); near 0 the series l/6 - 7l³/360 + 31l⁵/15120 - 127l⁷/604800.
    public static func continuousBernoulliLogNormalizerDerivative(_ l: Double) -> Double {
        if abs(l) < continuousBernoulliSeriesBound {
            let a2 = l * l
            return l * (1.0 / 6 - a2 * (7.0 / 360 - a2 * (31.0 / 15120 - a2 * 127.0 / 604800)))
        }
        return 1 / l - 1 / sinh(l)
    }

    /// The continuous Bernoulli's mean λ/(2λ-1) + 1/(2 atanh(1-2λ)) at λ = sigmoid(l), which is
    /// 1/2 + (coth(l/2) - 2/l)/2; near 0 the series 1/2 + l/12 - l³/720 + l⁵/30240 - l⁷/1209600.
    public static func continuousBernoulliMean(_ l: Double) -> Double {
        if abs(l) < continuousBernoulliSeriesBound {
            let a2 = l * l
            return 0.5 + l * (1.0 / 12 - a2 * (1.0 / 720 - a2 * (1.0 / 30240 - a2 / 1_209_600)))
        }
        return 0.5 + (1 / tanh(l / 2) - 2 / l) / 2
    }
}
