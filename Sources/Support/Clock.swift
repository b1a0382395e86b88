import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Seconds from a monotonic clock.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// ISO-8601 UTC timestamp, for timing.json only.
public func timestamp() -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: Date())
}

/// A span of time for people, in every message, table and report, to about 2 %: "0.4 s" (under
/// 10 seconds), "12 s", "3 min 5 s" (under 10 minutes), "25 min" (under an hour), "2 h 7 min";
/// "?" where it is not known (an ETA before the first step: infinite or NaN) or negative.
public func readableDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    if seconds < 9.95 { return String(format: "%.1f s", seconds) }
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s) s" }
    if s < 600 { return "\(s / 60) min \(s % 60) s" }
    let m = (s + 30) / 60
    return m < 60 ? "\(m) min" : "\(m / 60) h \(m % 60) min"
}
