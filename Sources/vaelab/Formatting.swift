import Foundation
import Support

/// `value` with a fixed number of decimals, right-aligned to `width` characters.
func fixed(_ value: Double, _ decimals: Int, width: Int = 0) -> String {
    let s = String(format: "%.\(decimals)f", value)
    return s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

extension String {
    /// Left-aligned, padded with spaces to `width` characters.
    func padded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

/// Says on stderr how the first stop signal is handled (`StopRequest`).
@Sendable func announceStop(_ signal: Int32) {
    let text = "\nvaelab: \(StopRequest.name(signal)): stopping at the next batch boundary, checkpoints kept"
    let hint = signal == SIGINT ? " (Ctrl-C again to quit now)" : ""
    FileHandle.standardError.write(Data((text + hint + "\n").utf8))
}
