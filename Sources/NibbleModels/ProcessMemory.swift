import Foundation

/// Resident memory of this process, read from the kernel (not estimated).
public struct ProcessMemory: Sendable, Codable, Equatable {
    /// Current resident set size in bytes (`VmRSS`).
    public var residentBytes: Int
    /// Peak resident set size in bytes (`VmHWM`).
    public var peakResidentBytes: Int

    /// Reads the numbers now. On Linux from `/proc/self/status`; elsewhere from `getrusage` (peak only).
    public static func current() -> ProcessMemory {
        #if os(Linux)
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
            var rss = 0
            var hwm = 0
            for line in status.split(separator: "\n") {
                if line.hasPrefix("VmRSS:") { rss = kibibytes(line) }
                if line.hasPrefix("VmHWM:") { hwm = kibibytes(line) }
            }
            return ProcessMemory(residentBytes: rss, peakResidentBytes: max(hwm, rss))
        }
        #endif
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peak = Int(usage.ru_maxrss) * 1024
        #else
        getrusage(RUSAGE_SELF, &usage)
        let peak = Int(usage.ru_maxrss)  // bytes on Darwin
        #endif
        return ProcessMemory(residentBytes: peak, peakResidentBytes: peak)
    }

    private static func kibibytes(_ line: Substring) -> Int {
        let digits = line.split(separator: " ").dropFirst().first ?? "0"
        return (Int(digits) ?? 0) * 1024
    }
}
