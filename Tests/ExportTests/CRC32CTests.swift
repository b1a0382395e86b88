import Export
import Support
import Testing

@Suite("CRC-32C and TFRecord framing")
struct CRC32CTests {
    /// The standard check value, RFC 3720's all-zero and all-one vectors, and TensorBoard's own
    /// masked_crc32c of "123456789" (tensorboard.compat.tensorflow_stub.pywrap_tensorflow).
    @Test func goldenValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.masked(Array("123456789".utf8)) == 0xC78A_B0E5)
        #expect(CRC32C.masked([UInt8]()) == 0xA282_EAD8)
    }

    static let payloads: [[UInt8]] = [Array("first".utf8), [], Array(repeating: 7, count: 300)]

    @Test func framesReadBackInOrder() throws {
        let file = Self.payloads.flatMap(TFRecord.frame)
        #expect(file.count == Self.payloads.map { $0.count + 16 }.reduce(0, +))
        #expect(try TFRecord.payloads(file) == Self.payloads)
        #expect(Array(file[0..<8]) == [5, 0, 0, 0, 0, 0, 0, 0])
    }

    /// Every cut inside a record and every single-bit flip anywhere is refused.
    @Test func truncatedOrFlippedFilesAreRefused() throws {
        let file = Self.payloads.flatMap(TFRecord.frame)
        let boundaries = Set(Self.payloads.reduce(into: [0]) { $0.append($0.last! + $1.count + 16) })
        for cut in 1..<file.count where !boundaries.contains(cut) {
            #expect(throws: TFRecordError.self) { try TFRecord.payloads(Array(file[0..<cut])) }
        }
        for byte in 0..<file.count {
            for bit in 0..<8 {
                var bad = file
                bad[byte] ^= 1 << bit
                #expect(throws: TFRecordError.self) { try TFRecord.payloads(bad) }
            }
        }
    }
}
