import Datasets
import Experiments
import Figures
import Models
import NeuralNet
import Testing
import Training

@Suite("Group labels")
struct GroupLabelTests {
    static func config(_ model: ModelKind, d: Int, trainLimit: Int? = nil) -> RunConfig {
        var c = RunConfig()
        (c.model, c.latentDim, c.trainLimit) = (model, d, trainLimit)
        return c
    }

    /// A figure's legend names what tells its groups apart; what they share goes once above it.
    @Test func legendsKeepWhatDiffersAndShareTheRest() {
        let reference = [(ModelKind.vae, 2), (.vae, 16), (.ae, 2), (.ae, 16)].map { Self.config($0, d: $1) }
        #expect(
            reference.map(Summary.label) == [
                "vae d=2 H=256 β=1", "vae d=16 H=256 β=1", "ae d=2 H=256", "ae d=16 H=256",
            ])
        // β is read by the VAEs only, and they share it: it goes above the legend with H.
        let (labels, shared) = Summary.distinguishingLabels(reference)
        #expect(labels == ["vae d=2", "vae d=16", "ae d=2", "ae d=16"] && shared == "H=256 β=1")
        // A β that differs between the VAEs stays in their entries, and the AE's has none.
        var betas = [Self.config(.vae, d: 2), Self.config(.vae, d: 2), Self.config(.ae, d: 2)]
        betas[1].beta = 4
        #expect(Summary.distinguishingLabels(betas) == (["vae β=1", "vae β=4", "ae"], "d=2 H=256"))

        // One config: its whole label, nothing shared.
        #expect(Summary.distinguishingLabels([reference[0]]) == (["vae d=2 H=256 β=1"], ""))
        // A field that varies is named at its default too, where the group label leaves it out.
        let limited = [Self.config(.vae, d: 2), Self.config(.vae, d: 2, trainLimit: 2048)]
        #expect(limited.map(Summary.label) == ["vae d=2 H=256 β=1", "vae d=2 H=256 β=1 train 2048"])
        #expect(Summary.distinguishingLabels(limited) == (["train all", "train 2048"], "vae d=2 H=256 β=1"))
        var rates = [0.0005, 0.001, 0.002].map { rate in
            var c = Self.config(.vae, d: 2)
            c.learningRate = rate
            return c
        }
        rates[2].batchSize = 256
        let (lr, same) = Summary.distinguishingLabels(rates)
        #expect(
            lr == ["batch 128 lr 0.0005", "batch 128 lr 0.001", "batch 256 lr 0.002"] && same == "vae d=2 H=256 β=1")
    }
}

extension GroupLabelTests {
    /// Groups that differ only in what the evaluation reads (the NLL bound's k, the k-NN probe's
    /// k) have labels of their own, those settings after the training ones, and the k-NN column
    /// says which k it reports.
    @Test func evaluationSettingsAreInTheLabels() {
        var configs: [RunConfig] = []
        for k in [0, 100, 1000] {
            for neighbours in [1, 5] {
                var c = Self.config(.vae, d: 2)
                (c.iwaeSamples, c.knnNeighbors) = (k, neighbours)
                configs.append(c)
            }
        }
        let labels = configs.map(Summary.label)
        #expect(Set(labels).count == configs.count)
        #expect(labels[0] == "vae d=2 H=256 β=1 no NLL 1-NN" && labels[3] == "vae d=2 H=256 β=1")
        #expect(labels[5] == "vae d=2 H=256 β=1 NLL k=1000")
        var iwae = Self.config(.iwae, d: 16)
        (iwae.trainSamples, iwae.binarize, iwae.iwaeSamples) = (5, .dynamic, 1000)
        #expect(Summary.label(iwae) == "iwae d=16 H=256 β=1 k=5 binarised NLL k=1000")
        var ae = Self.config(.ae, d: 2)
        ae.iwaeSamples = 1000
        ae.beta = 4
        #expect(Summary.label(ae) == "ae d=2 H=256")  // an AE has no bound and no KL weight
        #expect(RunField.named("beta")!.explicitLabel(of: ae) == nil)
        #expect(Summary.distinguishingLabels([configs[3], configs[5]]).labels == ["NLL k=100", "NLL k=1000"])
        #expect(Summary.knnHeading(configs) == "k-NN acc." && Summary.knnHeading([configs[3]]) == "5-NN acc.")
    }
}

@Suite("Latent map legend")
struct LatentMapLegendTests {
    /// Fashion-MNIST's map names its classes, in a legend as wide as its longest name needs;
    /// MNIST's keeps its digits and its width.
    @Test func theLegendNamesTheDatasetsClassesAndFitsThem() throws {
        var rng = Xoshiro256(seed: 3)
        let latents = (0..<200).map { _ in rng.uniform(-1, 1) }
        let labels = (0..<100).map { UInt8($0 % 10) }
        func map(_ dataset: DatasetName) throws -> Canvas {
            try RunFigures.latentMapChart(
                latents, labels: labels, count: 100, d: 2, model: .vae, dataset: dataset, name: "t")
        }
        #expect(DatasetName.mnist.classNames == (0..<10).map(String.init) && DatasetName.mnist.classKind == "digit")
        let fashion = DatasetName.fashionMNIST
        #expect(fashion.classNames.count == 10 && fashion.classNames[9] == "Ankle boot" && fashion.classKind == "class")
        #expect(try map(.mnist).width == 820)
        let widest = fashion.classNames.map { Canvas.textWidth($0, size: 13) }.max()!
        #expect(Double(try map(fashion).width) >= 766 + widest + 8)
    }
}
