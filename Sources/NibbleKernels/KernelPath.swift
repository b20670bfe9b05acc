import CNibbleKernels
import Foundation

/// Which implementation the C kernels run: CPU-specific vector code, or the portable C every platform has.
public enum KernelPath: Sendable, Equatable {
    /// The widest vector code the CPU has: AVX-512 kernels where they are faster, AVX2/FMA/F16C otherwise
    /// (the same as `.portable` on CPUs without AVX2).
    case vector
    /// AVX2/FMA/F16C only, even on CPUs with AVX-512: for comparing against, and testing, the AVX2 kernels.
    case avx2
    /// Plain C, no intrinsics: the fallback on CPUs without the features, and a reference for tests.
    case portable

    /// The fastest path this CPU supports.
    public static let best: KernelPath = nibble_best_impl() == NIBBLE_IMPL_SCALAR ? .portable : .vector

    /// The path kernels use unless a caller asks for one: `best`, or what `NIBBLE_KERNELS` names (`portable`,
    /// `avx2`), for comparing against, or for ruling out, the wider vector code. Any other value is reported
    /// on standard error once and ignored.
    public static let current: KernelPath = {
        guard let value = ProcessInfo.processInfo.environment["NIBBLE_KERNELS"], !value.isEmpty else { return best }
        switch value.lowercased() {
        case "portable": return .portable
        case "avx2": return best == .portable ? .portable : .avx2
        case "avx512", "vector", "best": return best
        default:
            let message = "nibble: NIBBLE_KERNELS=\(value) is not one of avx512, avx2, portable; using \(best.name)\n"
            FileHandle.standardError.write(Data(message.utf8))
            return best
        }
    }()

    /// What this path runs on this CPU: `avx512`, `avx2` or `portable`.
    public var name: String {
        switch implementation {
        case NIBBLE_IMPL_AVX512: return "avx512"
        case NIBBLE_IMPL_AVX2: return "avx2"
        default: return "portable"
        }
    }

    /// The C selector; vector paths degrade to what the CPU has.
    @usableFromInline
    var implementation: nibble_impl {
        let best = nibble_best_impl()
        switch self {
        case .vector: return best
        case .avx2: return best == NIBBLE_IMPL_SCALAR ? NIBBLE_IMPL_SCALAR : NIBBLE_IMPL_AVX2
        case .portable: return NIBBLE_IMPL_SCALAR
        }
    }
}
