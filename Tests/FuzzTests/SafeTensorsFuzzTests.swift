import Datasets
import Foundation
import Models
import NeuralNet
import Testing
import Training

/// The safetensors reader (in memory and from a file) and the checkpoint restore built on it.
@Suite("Fuzz: safetensors and checkpoints")
struct SafeTensorsFuzzTests {
    static func classify(_ error: any Error) -> String? {
        error is SafeTensorsError ? errorCategory(error) : nil
    }

    @Test func safeTensorsDecode() throws {
        // The writer's output reads back as written.
        for set in SafeTensorsCorpus.tensorSets {
            let decoded = try SafeTensors.decode(SafeTensors.encode(set.tensors, metadata: set.metadata))
            #expect(decoded.metadata == set.metadata)
            let sorted = set.tensors.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
            #expect(
                decoded.tensors.map(\.name) == sorted.map(\.name) && decoded.tensors.map(\.shape) == sorted.map(\.shape)
            )
            #expect(zip(decoded.tensors, sorted).allSatisfy { sameBits($0.values, $1.values) })
        }
        let corpus = SafeTensorsCorpus.files
        let tally = runFuzz(
            target: "safetensors", corpus: corpus, json: true,
            mutator: Mutator(fixup: SafeTensorsCorpus.fixHeaderLength),
            classify: Self.classify
        ) { input in
            let (tensors, metadata) = try SafeTensors.decode(input, file: "fuzz.safetensors")
            // Accepted input: shapes match the values, nothing larger than the input, and it
            // round-trips through the writer.
            var bytes = 0
            for t in tensors {
                #expect(t.values.count == t.shape.reduce(1, *), "\(t.name): \(describeInput(input))")
                bytes += 4 * t.values.count
            }
            #expect(bytes <= input.count)
            let again = try SafeTensors.decode(SafeTensors.encode(tensors, metadata: metadata))
            #expect(
                again.metadata == metadata && again.tensors.map(\.name) == tensors.map(\.name),
                "\(describeInput(input))")
            #expect(zip(again.tensors, tensors).allSatisfy { $0.shape == $1.shape && sameBits($0.values, $1.values) })
        }
        #expect(tally.accepted >= corpus.count)
    }

    @Test func safeTensorsReadFromFile() throws {
        let scratch = try FuzzScratch("safetensors")
        defer { scratch.remove() }
        let path = scratch.file("f.safetensors")
        runFuzz(
            target: "safetensors-file", corpus: SafeTensorsCorpus.files, json: true,
            iterations: FuzzSettings.iterations / 5,
            mutator: Mutator(fixup: SafeTensorsCorpus.fixHeaderLength),
            classify: Self.classify
        ) { input in
            try scratch.write("f.safetensors", input)
            _ = try SafeTensors.read(path: path)
        }
        // A missing file is an I/O error, not a crash.
        #expect(throws: SafeTensorsError.self) { try SafeTensors.read(path: scratch.file("missing")) }
    }

    // MARK: Checkpoints

    /// A tiny run's checkpoints after epochs 1 and 2 (of 3), and a fresh trainer of that config.
    static func checkpoints(in scratch: FuzzScratch) throws -> (
        config: RunConfig, data: LoadedDataset, files: [[UInt8]]
    ) {
        var config = RunConfig()
        config.latentDim = 1
        config.hiddenUnits = 1
        config.epochs = 3
        config.batchSize = 2
        config.iwaeSamples = 0
        config.knnNeighbors = 1
        let images = (0..<(4 * 784)).map { Float(($0 * 37) % 256) / 255 }
        let split = DatasetSplit(images: images, labels: [0, 1, 2, 3], count: 4, rows: 28, cols: 28)
        let data = LoadedDataset(
            name: .mnist, train: split, test: split, checksums: ["fuzz": "0"], directory: scratch.path)
        struct Stop: Error {}
        let trainer = try Trainer(config: config, data: data)
        _ = try? trainer.run(afterEpoch: { t in
            try t.saveCheckpoint(to: scratch.file("epoch\(t.completedEpochs).safetensors"))
            if t.completedEpochs == 2 { throw Stop() }
        })
        let files = try (1...2).map {
            try [UInt8](Data(contentsOf: URL(fileURLWithPath: scratch.file("epoch\($0).safetensors"))))
        }
        return (config, data, files)
    }

    @Test func checkpointRestore() throws {
        let scratch = try FuzzScratch("checkpoint")
        defer { scratch.remove() }
        let (config, data, written) = try Self.checkpoints(in: scratch)
        // Wall times are in the metadata: fixed values keep the inputs the same from run to run.
        let files = try written.map { bytes in
            let decoded = try SafeTensors.decode(bytes)
            var metadata = decoded.metadata
            let epochs = metadata["epoch_seconds"]?.split(separator: ",").count ?? 0
            metadata["epoch_seconds"] = Array(repeating: "0.5", count: epochs).joined(separator: ",")
            metadata["train_seconds"] = "1.25"
            return try SafeTensors.encode(decoded.tensors, metadata: metadata)
        }
        let trainer = try Trainer(config: config, data: data)
        for (i, file) in files.enumerated() {
            try scratch.write("c.safetensors", file)
            try trainer.restoreCheckpoint(from: scratch.file("c.safetensors"))
            #expect(trainer.completedEpochs == i + 1)
        }
        // Mutations go where the checkpoint's own parsing is: the metadata values (JSON records,
        // hex RNG words, numbers) and the header; the float payload is arbitrary by design.
        let decoded = try files.map { try SafeTensors.decode($0) }
        var rng = FuzzRNG(seed: FuzzSettings.seed, target: "checkpoint-structure")
        let mutator = Mutator()
        var corpus = files
        for _ in 0..<(FuzzSettings.iterations / 5) {
            let (tensors, metadata) = rng.pick(decoded)
            var meta = metadata
            var ts = tensors
            for _ in 0..<(1 + rng.below(3)) {
                let key = rng.pick(meta.keys.sorted() + ["format", "records", "adam_step"])
                switch rng.below(6) {
                case 0: meta[key] = nil
                case 1:
                    meta[key] = rng.pick([
                        "", "0", "-1", "nan", "1e999", "0,0,0,0", "1,2,3", "ffffffffffffffffff,1,1,1", "[]", "[{}]",
                        "9223372036854775808",
                    ])
                case 2:
                    meta[key] = String(
                        decoding: JSONMutator.mutate(Array((meta[key] ?? "").utf8), corpus: [], rng: &rng),
                        as: UTF8.self)
                case 3:
                    meta[key] = String(
                        decoding: mutator.mutateBytes(Array((meta[key] ?? "").utf8), corpus: [[]], rng: &rng),
                        as: UTF8.self)
                case 4:  // reshape or drop a tensor
                    guard !ts.isEmpty else { break }
                    let i = rng.below(ts.count)
                    if rng.chance(1, in: 2) {
                        ts.remove(at: i)
                    } else {
                        ts[i] = NamedTensor(name: ts[i].name, shape: [1], values: [0])
                    }
                default:  // a field of the records JSON
                    meta["records"] = String(
                        decoding: JSONMutator.mutate(Array((meta["records"] ?? "[]").utf8), corpus: [], rng: &rng),
                        as: UTF8.self)
                }
            }
            if let bytes = try? SafeTensors.encode(ts, metadata: meta) {
                if rng.chance(1, in: 4) {
                    // Byte mutations inside the header only.
                    var n = 0
                    for k in (0..<8).reversed() { n = n << 8 | Int(bytes[k]) }
                    let header = mutator.mutateBytes(
                        Array(bytes[0..<(8 + n)]), corpus: [Array(bytes[0..<(8 + n)])], rng: &rng)
                    corpus.append(header + bytes[(8 + n)...])
                } else {
                    corpus.append(bytes)
                }
            }
        }
        // The inputs were made above; run them in order (no further mutation).
        let tally = runFuzz(
            target: "checkpoint", corpus: corpus, json: false, iterations: 0,
            classify: { error in
                error is SafeTensorsError || error is CheckpointError ? errorCategory(error) : nil
            }
        ) { input in
            try scratch.write("c.safetensors", input)
            try trainer.restoreCheckpoint(from: scratch.file("c.safetensors"))
            #expect(trainer.completedEpochs < config.epochs)
        }
        #expect(tally.accepted >= files.count && tally.rejected.values.reduce(0, +) > 0)
    }
}
