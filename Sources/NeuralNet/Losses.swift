#if canImport(Glibc)
    import Glibc
#endif

/// Losses with their gradients. Reduction everywhere: **sum over pixels (or latent dimensions),
/// mean over the batch**, so every value is "nats per image".
public enum Loss {
    /// Bernoulli cross-entropy from logits in the stable form
    /// max(l, 0) - l*x + log(1 + e^-|l|), summed over each image's `perImage` pixels.
    ///
    /// Writes the per-image sums into `perImageLoss` (if given) and `gradScale * (sigmoid(l) - x)`
    /// into `gradient` (if given). Returns the batch mean (accumulated in Double).
    @discardableResult
    public static func bceWithLogits(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, batch n: Int, perImage: Int,
        perImageLoss: UnsafeMutablePointer<Double>? = nil,
        gradient: UnsafeMutablePointer<Float>? = nil, gradScale: Float = 1
    ) -> Double {
        var total = 0.0
        for b in 0..<n {
            let l = logits + b * perImage
            let x = targets + b * perImage
            var acc: Float = 0
            for i in 0..<perImage {
                let v = l[i]
                let e = expf(-abs(v))
                acc += max(v, 0) - v * x[i] + log1pf(e)
                if let gradient {
                    // sigmoid(v) from the same exponential: 1/(1+e) for v >= 0, e/(1+e) otherwise.
                    let s = v >= 0 ? 1 / (1 + e) : e / (1 + e)
                    gradient[b * perImage + i] = gradScale * (s - x[i])
                }
            }
            perImageLoss?[b] = Double(acc)
            total += Double(acc)
        }
        return total / Double(n)
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
