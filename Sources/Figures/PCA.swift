import CBLAS
import Foundation

/// Principal components of a point cloud, through LAPACK's `dsyev` (OpenBLAS) on the covariance.
public struct PCA: Sendable {
    /// Component vectors (rows, unit length), largest variance first. Each is signed so that its
    /// largest-magnitude entry is positive, which makes projections reproducible.
    public let components: [[Double]]
    /// Variance along each component (eigenvalues of the sample covariance, descending).
    public let variances: [Double]
    public let mean: [Double]
    public var explainedRatio: [Double] {
        let total = variances.reduce(0, +)
        return variances.map { total > 0 ? $0 / total : 0 }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// PCA of `count` points of `dimension` coordinates (row-major `points`).
    public init(points: [Float], count: Int, dimension d: Int) throws {
        guard count >= 2, d >= 1, points.count == count * d else {
            throw Failure(
                description: "PCA needs at least 2 points of dimension >= 1 (\(count) x \(d), \(points.count) values)")
        }
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<count { for j in 0..<d { mean[j] += Double(points[i * d + j]) } }
        for j in 0..<d { mean[j] /= Double(count) }
        var cov = [Double](repeating: 0, count: d * d)
        var row = [Double](repeating: 0, count: d)
        for i in 0..<count {
            for j in 0..<d { row[j] = Double(points[i * d + j]) - mean[j] }
            for a in 0..<d { for b in a..<d { cov[a * d + b] += row[a] * row[b] } }
        }
        for a in 0..<d {
            for b in a..<d {
                cov[a * d + b] /= Double(count - 1)
                cov[b * d + a] = cov[a * d + b]
            }
        }
        guard cov.allSatisfy(\.isFinite) else {
            throw Failure(description: "PCA: the points contain non-finite values")
        }

        var n = Int32(d)
        var lda = Int32(d)
        var info: Int32 = 0
        var w = [Double](repeating: 0, count: d)
        var lwork: Int32 = -1
        var query = 0.0
        dsyev_("V", "U", &n, &cov, &lda, &w, &query, &lwork, &info, 1, 1)
        lwork = Int32(max(1, Int(query)))
        var work = [Double](repeating: 0, count: Int(lwork))
        dsyev_("V", "U", &n, &cov, &lda, &w, &work, &lwork, &info, 1, 1)
        guard info == 0 else { throw Failure(description: "PCA: dsyev failed with info \(info)") }
        // Column-major result: eigenvector k is cov[k*d ..< (k+1)*d], eigenvalues ascending.
        var components: [[Double]] = []
        var variances: [Double] = []
        for k in stride(from: d - 1, through: 0, by: -1) {
            var v = Array(cov[(k * d)..<((k + 1) * d)])
            if let big = v.max(by: { abs($0) < abs($1) }), big < 0 { v = v.map { -$0 } }
            components.append(v)
            variances.append(max(0, w[k]))
        }
        self.components = components
        self.variances = variances
        self.mean = mean
    }

    /// Coordinates of each point on the first `k` components (row-major count x k).
    public func project(_ points: [Float], count: Int, components k: Int) -> [Double] {
        let d = mean.count
        var out = [Double](repeating: 0, count: count * k)
        for i in 0..<count {
            for c in 0..<k {
                var s = 0.0
                for j in 0..<d { s += (Double(points[i * d + j]) - mean[j]) * components[c][j] }
                out[i * k + c] = s
            }
        }
        return out
    }
}
