import Foundation

/// Errors reading `.npz` / `.npy` files.
public enum NpzError: Error, CustomStringConvertible {
    case corrupt(String)
    case missing(String)
    public var description: String {
        switch self {
        case let .corrupt(m): return "npz: \(m)"
        case let .missing(k): return "npz: no array \(k)"
        }
    }
}

/// One array of an `.npz`: numpy dtype descriptor (e.g. "<f4"), shape, raw little-endian bytes (C order).
public struct NpyArray: Sendable {
    public let descr: String
    public let shape: [Int]
    public let data: [UInt8]

    public var count: Int { shape.reduce(1, *) }

    public func values<T>(_ type: T.Type) -> [T] {
        precondition(data.count == count * MemoryLayout<T>.size, "dtype \(descr) does not fit \(T.self)")
        return data.withUnsafeBytes { raw in (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) } }
    }
    public var floats: [Float] { values(Float.self) }
    public var floatBits: [UInt32] { values(UInt32.self) }
    public var uint16s: [UInt16] { values(UInt16.self) }
    public var uint8s: [UInt8] { data }
    public var int8s: [Int8] { values(Int8.self) }
    public var int32s: [Int32] { values(Int32.self) }
    public var int64s: [Int64] { values(Int64.self) }
}

/// Reads `np.savez` / `np.savez_compressed` archives with Foundation only (zip central directory by hand).
public struct NpzArchive: Sendable {
    public let arrays: [String: NpyArray]

    public init(contentsOf url: URL) throws {
        let bytes = [UInt8](try Data(contentsOf: url))
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        // End of central directory record: signature 0x06054b50 within the last 64 KiB.
        var eocd = bytes.count - 22
        while eocd >= 0 && u32(eocd) != 0x0605_4B50 { eocd -= 1 }
        guard eocd >= 0 else { throw NpzError.corrupt("no end of central directory") }
        let entries = u16(eocd + 10)
        var p = u32(eocd + 16)
        var arrays: [String: NpyArray] = [:]
        for _ in 0..<entries {
            guard u32(p) == 0x0201_4B50 else { throw NpzError.corrupt("bad central directory entry") }
            let method = u16(p + 10)
            var compressed = u32(p + 20), uncompressed = u32(p + 24)
            let nameLen = u16(p + 28), extraLen = u16(p + 30), commentLen = u16(p + 32)
            var local = u32(p + 42)
            let name = String(decoding: bytes[(p + 46)..<(p + 46 + nameLen)], as: UTF8.self)
            // zip64 extra field (numpy writes it for large members): sizes/offset stored there when 0xFFFFFFFF.
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = u16(e), size = u16(e + 2)
                if id == 1 {
                    var q = e + 4
                    func u64(_ o: Int) -> Int { u32(o) | u32(o + 4) << 32 }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = u64(q); q += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = u64(q); q += 8 }
                    if local == 0xFFFF_FFFF { local = u64(q); q += 8 }
                }
                e += 4 + size
            }
            p += 46 + nameLen + extraLen + commentLen
            let dataStart = local + 30 + u16(local + 26) + u16(local + 28)
            let raw = Array(bytes[dataStart..<(dataStart + compressed)])
            let member: [UInt8]
            switch method {
            case 0: member = raw
            case 8: member = try NpzInflate.inflate(raw, expectedSize: uncompressed)
            default: throw NpzError.corrupt("\(name): compression method \(method)")
            }
            let key = name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
            arrays[key] = try Self.parseNpy(member, name: name)
        }
        self.arrays = arrays
    }

    public subscript(_ key: String) -> NpyArray? { arrays[key] }

    public func array(_ key: String) throws -> NpyArray {
        guard let a = arrays[key] else { throw NpzError.missing(key) }
        return a
    }

    /// Parses an `.npy` v1/v2/v3 header: magic, version, header length, then a Python dict literal.
    static func parseNpy(_ b: [UInt8], name: String) throws -> NpyArray {
        guard b.count >= 10, b[0] == 0x93, b[1] == 0x4E else { throw NpzError.corrupt("\(name): not .npy") }
        let major = b[6]
        let headerLen: Int, start: Int
        if major == 1 { headerLen = Int(b[8]) | Int(b[9]) << 8; start = 10 }
        else { headerLen = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; start = 12 }
        let header = String(decoding: b[start..<(start + headerLen)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let d = field("descr"), let s = field("shape"), let f = field("fortran_order") else {
            throw NpzError.corrupt("\(name): header \(header)")
        }
        let descr = String(d.dropFirst().prefix { $0 != "'" })
        guard f.hasPrefix("False") else { throw NpzError.corrupt("\(name): fortran order") }
        let inside = s.dropFirst().prefix { $0 != ")" }
        let shape = inside.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return NpyArray(descr: descr, shape: shape, data: Array(b[(start + headerLen)...]))
    }
}
