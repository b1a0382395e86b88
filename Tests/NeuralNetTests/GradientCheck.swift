import NeuralNet

/// Fills a tensor with uniform values in [low, high) from a seeded generator.
func randomTensor(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var rng = Xoshiro256(seed: seed)
    let t = Tensor(zeros: shape)
    for i in 0..<t.count { t.data[i] = rng.uniform(low, high) }
    return t
}

func randomizeParameters(_ layer: Layer, seed: UInt64) {
    var rng = Xoshiro256(seed: seed)
    for p in layer.parameters { for i in 0..<p.value.count { p.value.data[i] = rng.uniform(-0.5, 0.5) } }
}

struct GradCheckFailure: CustomStringConvertible {
    var tensor: String, index: Int, analytic: Double, numeric: Double
    var description: String { "\(tensor)[\(index)]: analytic \(analytic) vs numeric \(numeric)" }
}

/// Central-difference check of dL/dx and every parameter gradient for L = sum(y * r), r a fixed
/// random projection. Checks up to `samples` indices per tensor (all when smaller).
/// Passes when |a - n| <= atol + rtol * max(|a|, |n|).
func gradientCheck(
    _ layer: Layer, input x: Tensor, seed: UInt64 = 7, epsilon: Float = 1e-2,
    atol: Double = 2e-3, rtol: Double = 2e-2, samples: Int = 60
) -> [GradCheckFailure] {
    let y0 = layer.forward(x)
    let r = randomTensor(y0.shape, seed: seed &+ 1)
    func loss() -> Double {
        let y = layer.forward(x)
        return dotDouble(y.data, r.data, y.count)
    }
    for p in layer.parameters { p.grad.zero() }
    _ = layer.forward(x)
    let dxTensor = layer.backward(r)
    let dx = dxTensor.array
    let paramGrads = layer.parameters.map(\.grad.array)

    var failures: [GradCheckFailure] = []
    var pick = Xoshiro256(seed: seed &+ 2)
    func check(_ name: String, _ values: Tensor, _ analytic: [Float]) {
        let indices =
            values.count <= samples
            ? Array(0..<values.count) : (0..<samples).map { _ in pick.integer(below: values.count) }
        for i in indices {
            let saved = values.data[i]
            values.data[i] = saved + epsilon
            let up = loss()
            values.data[i] = saved - epsilon
            let down = loss()
            values.data[i] = saved
            let numeric = (up - down) / (2 * Double(epsilon))
            let a = Double(analytic[i])
            if abs(a - numeric) > atol + rtol * max(abs(a), abs(numeric)) {
                failures.append(GradCheckFailure(tensor: name, index: i, analytic: a, numeric: numeric))
            }
        }
    }
    check("input", x, dx)
    for (p, g) in zip(layer.parameters, paramGrads) { check(p.name, p.value, g) }
    return failures
}

/// Direct-loop reference convolution with TensorFlow "same" padding (written independently of
/// ConvGeometry). x [N, C, H, W], w [O, C, k, k] -> [N, O, ceil(H/s), ceil(W/s)].
func referenceConv2D(x: [Float], n: Int, c: Int, h: Int, w: Int, weight: [Float], bias: [Float], o: Int, k: Int, s: Int)
    -> [Float]
{
    let oh = (h + s - 1) / s
    let ow = (w + s - 1) / s
    let pt = max((oh - 1) * s + k - h, 0) / 2
    let pl = max((ow - 1) * s + k - w, 0) / 2
    var y = [Float](repeating: 0, count: n * o * oh * ow)
    for b in 0..<n {
        for oc in 0..<o {
            for i in 0..<oh {
                for j in 0..<ow {
                    var acc = Double(bias[oc])
                    for ic in 0..<c {
                        for ki in 0..<k {
                            for kj in 0..<k {
                                let iy = i * s - pt + ki
                                let ix = j * s - pl + kj
                                if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                                acc +=
                                    Double(x[((b * c + ic) * h + iy) * w + ix])
                                    * Double(weight[((oc * c + ic) * k + ki) * k + kj])
                            }
                        }
                    }
                    y[((b * o + oc) * oh + i) * ow + j] = Float(acc)
                }
            }
        }
    }
    return y
}

/// Direct-loop reference transposed convolution ("same", output = input * s), as a scatter:
/// y[n, o, i*s - pt + ki, j*s - pl + kj] += x[n, c, i, j] * w[c, o, ki, kj], pt = max(k - s, 0) / 2.
func referenceConvTranspose2D(
    x: [Float], n: Int, c: Int, h: Int, w: Int, weight: [Float], bias: [Float], o: Int, k: Int, s: Int
) -> [Float] {
    let oh = h * s
    let ow = w * s
    let pt = max(k - s, 0) / 2
    let pl = pt
    var y = [Double](repeating: 0, count: n * o * oh * ow)
    for b in 0..<n {
        for ic in 0..<c {
            for i in 0..<h {
                for j in 0..<w {
                    let xv = Double(x[((b * c + ic) * h + i) * w + j])
                    for oc in 0..<o {
                        for ki in 0..<k {
                            for kj in 0..<k {
                                let yy = i * s - pt + ki
                                let yx = j * s - pl + kj
                                if yy < 0 || yy >= oh || yx < 0 || yx >= ow { continue }
                                y[((b * o + oc) * oh + yy) * ow + yx] +=
                                    xv * Double(weight[((ic * o + oc) * k + ki) * k + kj])
                            }
                        }
                    }
                }
            }
        }
    }
    for b in 0..<n { for oc in 0..<o { for p in 0..<(oh * ow) { y[(b * o + oc) * oh * ow + p] += Double(bias[oc]) } } }
    return y.map(Float.init)
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
