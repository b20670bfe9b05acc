/// Reads protobuf wire format (the subset SentencePiece models use) without a protobuf library.
///
/// Every read is bounds-checked and throws `ProtobufError` instead of trapping, because model files
/// come from the network and may be truncated.
struct ProtobufReader {
    enum WireType: Int {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    struct ProtobufError: Error {
        var reason: String
    }

    private let bytes: [UInt8]
    private(set) var position: Int
    private let end: Int

    init(_ bytes: [UInt8]) {
        self.init(bytes, range: 0..<bytes.count)
    }

    init(_ bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    var isAtEnd: Bool { position >= end }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws -> (number: Int, wire: WireType)? {
        guard !isAtEnd else { return nil }
        let key = try readVarint()
        let number = Int(key >> 3)
        guard number > 0 else { throw ProtobufError(reason: "field number 0 at byte \(position)") }
        guard let wire = WireType(rawValue: Int(key & 7)) else {
            throw ProtobufError(reason: "invalid wire type \(key & 7) at byte \(position)")
        }
        return (number, wire)
    }

    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw ProtobufError(reason: "truncated varint at byte \(position)") }
            let byte = bytes[position]
            position += 1
            guard shift < 64 else { throw ProtobufError(reason: "varint longer than 10 bytes at byte \(position)") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func readFixed32() throws -> UInt32 {
        guard end - position >= 4 else { throw ProtobufError(reason: "truncated fixed32 at byte \(position)") }
        var value: UInt32 = 0
        for k in 0..<4 { value |= UInt32(bytes[position + k]) << (8 * UInt32(k)) }
        position += 4
        return value
    }

    mutating func readFloat() throws -> Float { Float(bitPattern: try readFixed32()) }

    /// The byte range of a length-delimited field (a string, bytes or an embedded message).
    mutating func readLengthDelimited() throws -> Range<Int> {
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw ProtobufError(reason: "length \(length) runs past the end at byte \(position)")
        }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    mutating func readString() throws -> String {
        let range = try readLengthDelimited()
        return String(decoding: bytes[range], as: UTF8.self)
    }

    /// A reader over an embedded message.
    mutating func readMessage() throws -> ProtobufReader {
        ProtobufReader(bytes, range: try readLengthDelimited())
    }

    mutating func readBool() throws -> Bool { try readVarint() != 0 }

    /// int32 fields are sign-extended to 64 bits on the wire.
    mutating func readInt32() throws -> Int32 { Int32(truncatingIfNeeded: try readVarint()) }

    /// Skips a field this reader does not care about.
    mutating func skip(_ wire: WireType) throws {
        switch wire {
        case .varint: _ = try readVarint()
        case .fixed64:
            guard end - position >= 8 else { throw ProtobufError(reason: "truncated fixed64 at byte \(position)") }
            position += 8
        case .lengthDelimited: _ = try readLengthDelimited()
        case .fixed32: _ = try readFixed32()
        case .startGroup, .endGroup:
            throw ProtobufError(reason: "groups are not supported (byte \(position))")
        }
    }

    /// Checks the wire type of a known field, so a corrupt file fails with a message rather than misreads.
    func expect(_ wire: WireType, _ expected: WireType, field: String) throws {
        guard wire == expected else {
            throw ProtobufError(reason: "field \(field) has wire type \(wire.rawValue), expected \(expected.rawValue)")
        }
    }
}
