import Foundation
import NibbleKernels
import Testing

/// The dispatcher picks the widest kernels the CPU has, as the kernel's own feature list reports them.
struct KernelPathTests {
    /// The flags line of /proc/cpuinfo, or nil off Linux x86_64.
    static func cpuFlags() -> Set<Substring>? {
        #if os(Linux) && arch(x86_64)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":")
        else { return nil }
        return Set(line[line.index(after: colon)...].split(separator: " "))
        #else
        return nil
        #endif
    }

    @Test(.enabled(if: cpuFlags() != nil, "reads /proc/cpuinfo (Linux x86_64)"))
    func vectorPathIsTheWidestTheCPUHas() throws {
        let flags = try #require(Self.cpuFlags())
        let avx2 = ["avx2", "fma", "f16c"].allSatisfy { flags.contains(Substring($0)) }
        // The kernel lists a feature only when the OS also saves its registers.
        let avx512 = avx2 && ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy { flags.contains(Substring($0)) }
        let expected = avx512 ? "avx512" : avx2 ? "avx2" : "portable"
        #expect(KernelPath.vector.name == expected)
        #expect(KernelPath.avx2.name == (avx2 ? "avx2" : "portable"))
        #expect(KernelPath.portable.name == "portable")
        #expect(KernelPath.best == (avx2 ? .vector : .portable))
    }
}
