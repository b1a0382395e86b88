import Foundation
import Testing

/// Writes the corpora above as libFuzzer seed directories (`make fuzz`): with
/// `VAELAB_FUZZ_CORPUS_DIR=DIR`, one directory per libFuzzer target under DIR, one file per input.
/// Skipped otherwise.
@Suite("Fuzz: seed corpus export")
struct SeedCorpusExport {
    /// libFuzzer target name (Fuzz/Sources/<name>) -> its seeds.
    static var corpora: [String: [[UInt8]]] {
        [
            "fuzz-json": Corpus.json,
            "fuzz-spec": Corpus.specs,
            "fuzz-idx": Corpus.idxFiles,
            "fuzz-gzip": Corpus.gzipFiles,
            "fuzz-safetensors": SafeTensorsCorpus.files,
            "fuzz-summary": Corpus.summaries,
            "fuzz-png": PNGCorpus.all,
        ]
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["VAELAB_FUZZ_CORPUS_DIR"] != nil))
    func exportSeedCorpora() throws {
        let root = try #require(ProcessInfo.processInfo.environment["VAELAB_FUZZ_CORPUS_DIR"])
        for (target, inputs) in Self.corpora.sorted(by: { $0.key < $1.key }) {
            let dir = root + "/" + target
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (i, input) in inputs.enumerated() {
                try Data(input).write(to: URL(fileURLWithPath: dir + "/seed-\(i)"))
            }
            print("seed corpus \(target): \(inputs.count) inputs in \(dir)")
        }
    }
}
