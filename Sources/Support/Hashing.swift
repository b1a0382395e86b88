import Crypto

/// SHA-256 of `bytes` as lowercase hex.
public func sha256Hex(_ bytes: [UInt8]) -> String {
    var hasher = SHA256()
    bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
    let digits: [Character] = Array("0123456789abcdef")
    var hex = ""
    hex.reserveCapacity(64)
    for byte in hasher.finalize() {
        hex.append(digits[Int(byte >> 4)])
        hex.append(digits[Int(byte & 0x0F)])
    }
    return hex
}
