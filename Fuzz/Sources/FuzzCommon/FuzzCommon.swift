import CFuzzDriver
import Foundation

/// The C signature of LLVMFuzzerTestOneInput.
public typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// Runs libFuzzer (command line as usual: corpus directories and -flags) on `callback`.
public func runLibFuzzer(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, _ callback: FuzzCallback
) -> CInt {
    var argc = argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&argc, &argv, callback)
}

/// The contract every target checks: the parser returns a value or throws one of its typed
/// errors. Anything else (an untyped error here, or a trap, an out-of-bounds access or a huge
/// allocation anywhere, caught by libFuzzer and AddressSanitizer) is a crash.
///
/// - Parameters:
///   - typed: whether a thrown error is one the API promises.
///   - body: parses the input; it may trap (`precondition`) on a broken invariant of a result.
@inline(never)
public func fuzzOne(
    _ data: UnsafePointer<UInt8>?, _ size: Int, typed: (any Error) -> Bool, _ body: ([UInt8]) throws -> Void
) -> CInt {
    let bytes = size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    do {
        try body(bytes)
    } catch  where typed(error) {
        // A typed rejection: fine.
    } catch {
        fatalError("untyped error \(type(of: error)): \(error)")
    }
    return 0
}

/// A scratch file for the readers that take a path (one per process, removed at exit).
public let fuzzScratchFile: String = {
    let path = NSTemporaryDirectory() + "vaelab-fuzz-\(getpid())"
    atexit { unlink(NSTemporaryDirectory() + "vaelab-fuzz-\(getpid())") }
    return path
}()

/// Replaces the scratch file's contents with plain POSIX calls (no atomic rename, no fsync:
/// FileManager's atomic writes cost milliseconds per input).
public func writeScratchFile(_ bytes: [UInt8]) {
    let fd = open(fuzzScratchFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { fatalError("cannot write \(fuzzScratchFile)") }
    var written = 0
    while written < bytes.count {
        let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { fatalError("cannot write \(fuzzScratchFile)") }
        written += n
    }
    close(fd)
}
