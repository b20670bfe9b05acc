import CNibbleKernels
import Foundation

/// Which implementation the C kernels run: CPU-specific vector code, or the portable C every platform has.
public enum KernelPath: Sendable, Equatable {
    /// AVX2/FMA/F16C on x86_64 when the CPU has them (otherwise the same as `.portable`).
    case vector
    /// Plain C, no intrinsics: the fallback on CPUs without the features, and a reference for tests.
    case portable

    /// The fastest path this CPU supports.
    public static let best: KernelPath = nibble_best_impl() == NIBBLE_IMPL_AVX2 ? .vector : .portable

    /// The path kernels use unless a caller asks for one: `best`, or `.portable` when `NIBBLE_KERNELS=portable`
    /// (for comparing against, or for ruling out, the vector code).
    public static let current: KernelPath = {
        if ProcessInfo.processInfo.environment["NIBBLE_KERNELS"]?.lowercased() == "portable" { return .portable }
        return best
    }()

    /// The C selector; `.vector` degrades to portable code on CPUs without the features.
    @usableFromInline
    var implementation: nibble_impl {
        self == .vector && KernelPath.best == .vector ? NIBBLE_IMPL_AVX2 : NIBBLE_IMPL_SCALAR
    }
}
