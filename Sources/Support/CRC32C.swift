/// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial and final XOR 0xFFFFFFFF),
/// the checksum of TFRecord framing. The check value of "123456789" is 0xE3069283.
public enum CRC32C {
    /// table[b] = the CRC register after shifting byte b through 8 reflected steps.
    private static let table: [UInt32] = (0..<256).map { byte in
        var r = UInt32(byte)
        for _ in 0..<8 { r = r & 1 == 1 ? (r >> 1) ^ 0x82F6_3B78 : r >> 1 }
        return r
    }

    public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// TFRecord's masked form, rotr(crc, 15) + 0xA282EAD8, so that a CRC of data that holds
    /// CRCs stays well spread.
    public static func masked<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        let crc = checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
