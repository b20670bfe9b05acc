import Foundation

/// Writes GGUF bytes field by field, so tests can build valid files and precisely broken ones.
struct GGUFTestWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += Array(s.utf8)
    }
    mutating func header(version: UInt32 = 3, tensors: UInt64, metadata: UInt64) {
        bytes += Array("GGUF".utf8)
        u32(version)
        u64(tensors)
        u64(metadata)
    }
    mutating func kvString(_ key: String, _ value: String) {
        string(key)
        u32(8)
        string(value)
    }
    mutating func kvU32(_ key: String, _ value: UInt32) {
        string(key)
        u32(4)
        u32(value)
    }
    mutating func tensorInfo(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(dims.count))
        for d in dims { u64(d) }
        u32(type)
        u64(offset)
    }
    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    /// A valid file: two metadata entries, an F32 [2, 4] tensor and a Q8_0 [1, 32] tensor.
    static func small(alignment: UInt32? = nil) -> [UInt8] {
        var w = GGUFTestWriter()
        w.header(tensors: 2, metadata: alignment == nil ? 2 : 3)
        w.kvString("general.architecture", "llama")
        w.kvU32("llama.block_count", 1)
        if let alignment { w.kvU32("general.alignment", alignment) }
        let align = Int(alignment ?? 32)
        w.tensorInfo("a", dims: [4, 2], type: 0, offset: 0)
        w.tensorInfo("b", dims: [32, 1], type: 8, offset: UInt64((32 + align - 1) / align * align))
        w.pad(to: align)
        for i in 0..<8 { w.f32(Float(i) - 3.5) }
        w.pad(to: align)
        w.bytes += [0x00, 0x3C]  // d = 1.0 (f16)
        for i in 0..<32 { w.u8(UInt8(bitPattern: Int8(i - 16))) }
        return w.bytes
    }
}
