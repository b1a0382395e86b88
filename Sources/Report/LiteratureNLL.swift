import Datasets
import Experiments
import Support
import Training

/// Published negative log-likelihoods on binarised MNIST (nats, lower is better), the numbers a
/// run with `binarize: dynamic` is set beside. All are one-stochastic-layer MLP models.
public struct LiteratureNLL: Sendable {
    public let model: String
    public let nll: Double
    public let estimator: String
    public let source: String

    public static let all: [LiteratureNLL] = [
        LiteratureNLL(
            model: "VAE (k = 1 in training)", nll: 86.76, estimator: "IWAE bound, k = 5000, dynamic binarisation",
            source: "Burda, Grosse & Salakhutdinov, ICLR 2016, Table 1"),
        LiteratureNLL(
            model: "IWAE (k = 50 in training)", nll: 84.78, estimator: "IWAE bound, k = 5000, dynamic binarisation",
            source: "Burda, Grosse & Salakhutdinov, ICLR 2016, Table 1"),
        LiteratureNLL(
            model: "VAE (Pythae benchmark)", nll: 89.78, estimator: "importance sampling, static binarisation",
            source: "Chadebec et al., Pythae, NeurIPS 2022 Datasets and Benchmarks"),
    ]
}

extension ReportGenerator {
    /// For a study with binarised runs: their NLL bound (mean over seeds, the estimator's k and
    /// test images, the standard error over images) beside the published numbers.
    mutating func literatureComparison(_ groups: [(GroupSummary, [ResultsTree.Run])]) {
        let binarised = groups.filter { $0.0.config.binarize == .dynamic }
        let rows = binarised.compactMap { g, runs -> String? in
            let finals = runs.compactMap(\.metrics?.final)
            let bounds = finals.compactMap(\.testNLLBound)
            guard !bounds.isEmpty, let stat = Statistic(bounds) else { return nil }
            let errors = finals.compactMap(\.testNLLStandardError)
            let error = errors.isEmpty ? "–" : Self.number(errors.reduce(0, +) / Double(errors.count), 2)
            let images = g.config.testLimit.map { "\($0)" } ?? "10,000"
            let estimator = "IWAE bound, k = \(g.config.iwaeSamples), \(images) test images, dynamic binarisation"
            return
                "| \(Markdown.inline(g.label)) (conv, vaelab) | \(Summary.format(stat, key: "test_nll_iwae")) | \(error) | "
                + "\(estimator) | this report, n = \(bounds.count) |\n"
        }
        guard !rows.isEmpty else { return }
        md += "Test NLL on binarised MNIST beside the literature (nats per image, lower is better; ± over seeds "
        md += "where n > 1; the standard error is over the test images). Published models are MLPs with one "
        md += "stochastic layer; a bound with fewer samples k is looser (higher).\n\n"
        md += "| model | NLL | std. error | estimator | source |\n|---|---|---|---|---|\n"
        md += rows.joined()
        for r in LiteratureNLL.all {
            md += "| \(r.model) | \(Self.number(r.nll, 2)) | – | \(r.estimator) | \(r.source) |\n"
        }
        md += "\n"
    }
}
