import NNKernels

/// The engine computes with subnormal floats (below 2^-126 in magnitude) flushed to zero.
///
/// An x86 core takes a microcode assist, ~100 cycles, for each subnormal operand or result: a
/// few of them in a GEMM's operands slow the whole product. The continuous Bernoulli's
/// gradients are full of them early in training, and its first epoch ran 3x slower than with
/// them flushed. Flushing changes a result only where a subnormal would have changed it, by less
/// than 2^-126 per value: the committed continuous-Bernoulli VAE d=16, retrained flushed, gave
/// byte-identical metrics and weights.
///
/// The mode belongs to a thread: `Trainer.run`, the benchmark and the figures enter it, and
/// `DataParallelStep`'s workers copy the caller's, so serial, parallel and resumed runs
/// compute alike.
public enum SubnormalMode {
    /// Runs body on this thread with subnormals flushed, then restores the thread's mode.
    public static func flushing<T>(_ body: () throws -> T) rethrows -> T {
        try with(vl_fp_mode_flushing_subnormals(vl_fp_mode()), body)
    }

    /// This thread's floating-point control bits, for `with` on another thread.
    public static var current: UInt32 { vl_fp_mode() }

    /// Runs body on this thread under the control bits `mode`, then restores the thread's own.
    public static func with<T>(_ mode: UInt32, _ body: () throws -> T) rethrows -> T {
        let saved = vl_fp_mode()
        vl_set_fp_mode(mode)
        defer { vl_set_fp_mode(saved) }
        return try body()
    }
}
