import Dispatch
import Foundation
import Synchronization

/// A cooperative stop, shared by every thread of the process.
///
/// After `install()`, the first SIGINT, SIGTERM or SIGUSR1 (Slurm's warning before a time limit
/// or preemption) only records the signal: training stops at its next batch boundary, keeps the
/// run's last epoch checkpoint, marks nothing failed, and the command exits with 128 + the
/// signal's number. A second SIGINT exits at once (Ctrl-C twice), still losing nothing on disk:
/// every write is atomic and the per-run locks die with the process.
public enum StopRequest {
    private static let received = Atomic<Int32>(0)
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    /// The first stop signal received, if any.
    public static var signal: Int32? {
        let s = received.load(ordering: .acquiring)
        return s == 0 ? nil : s
    }

    public static var isRequested: Bool { signal != nil }

    /// Records a stop as if `signal` had arrived (tests, and callers with their own reasons).
    public static func request(_ signal: Int32) {
        _ = received.compareExchange(expected: 0, desired: signal, ordering: .acquiringAndReleasing)
    }

    /// Takes over SIGINT, SIGTERM and SIGUSR1 for the rest of the process; call once, first thing.
    public static func install(onFirst: @escaping @Sendable (Int32) -> Void = { _ in }) {
        for number in [SIGINT, SIGTERM, SIGUSR1] {
            Foundation.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if Self.isRequested {
                    if number == SIGINT { exit(128 + SIGINT) }
                    return
                }
                request(number)
                onFirst(number)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// "SIGINT", "SIGTERM", "SIGUSR1" or "signal N".
    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(signal)"
        }
    }
}
