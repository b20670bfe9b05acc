import Foundation

/// The `quant_state.bitsandbytes__<type>` blob of a saved 4-bit weight: the non-tensor half of bitsandbytes'
/// `QuantState`, stored as the UTF-8 bytes of `json.dumps` of a dict.
///
/// Parsing is strict (every key known, every type checked) because the loader trusts these numbers to size the
/// tensors around it; serializing reproduces bitsandbytes' key order and number formatting byte for byte.
public struct FourBitQuantState: Sendable, Equatable {
    /// The double-quantization settings, present exactly when absmax is stored as 8-bit codes.
    public struct Nested: Sendable, Equatable {
        /// Group size of the nested absmax quantization (256 in bitsandbytes).
        public var blocksize: Int
        /// Dtype of the nested absmax values ("float32").
        public var dtype: String
        /// The mean subtracted from absmax before it was quantized (an f32 value).
        public var offset: Float

        public init(blocksize: Int = 256, dtype: String = "float32", offset: Float) {
            self.blocksize = blocksize; self.dtype = dtype; self.offset = offset
        }
    }

    public var quantType: FourBitQuantType
    /// Elements per absmax block.
    public var blocksize: Int
    /// Dtype of the weight before quantization ("float32", "float16", "bfloat16").
    public var dtype: String
    /// Shape of the unquantized weight, `[out, in]` for a linear layer.
    public var shape: [Int]
    public var nested: Nested?

    /// Float dtypes bitsandbytes writes into the blob.
    public static let floatDTypes: Set<String> = ["float32", "float16", "bfloat16"]

    public init(quantType: FourBitQuantType, blocksize: Int, dtype: String, shape: [Int], nested: Nested?) {
        self.quantType = quantType; self.blocksize = blocksize; self.dtype = dtype; self.shape = shape
        self.nested = nested
    }

    /// The state of a loaded or freshly quantized weight.
    public init(_ weight: FourBitWeight) {
        self.init(quantType: weight.quantType, blocksize: weight.blocksize, dtype: weight.originalDType,
                  shape: [weight.outFeatures, weight.inFeatures],
                  nested: weight.nested.map { Nested(blocksize: $0.blocksize, offset: $0.offset) })
    }

    /// The tensor-name suffix of the blob, e.g. "quant_state.bitsandbytes__nf4".
    public static func blobSuffix(_ type: FourBitQuantType) -> String { "quant_state.bitsandbytes__" + type.rawValue }

    /// Number of weight elements.
    public var elementCount: Int { shape.reduce(1, *) }
    /// Number of absmax blocks.
    public var blockCount: Int { (elementCount + blocksize - 1) / blocksize }
    /// Number of nested absmax values (0 without double quantization).
    public var nestedBlockCount: Int { nested.map { (blockCount + $0.blocksize - 1) / $0.blocksize } ?? 0 }

    /// Parses blob bytes. `tensor` names the blob in errors; its suffix must agree with `quant_type`.
    public init(parsing bytes: [UInt8], tensor: String) throws {
        func fail(_ message: String) -> QuantizationError { .badTensor(name: tensor, message: message) }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            throw fail("is not the UTF-8 bytes of a JSON object")
        }
        let required = ["quant_type", "blocksize", "dtype", "shape"]
        let nestedKeys = ["nested_blocksize", "nested_dtype", "nested_offset"]
        let unknown = object.keys.filter { !required.contains($0) && !nestedKeys.contains($0) }.sorted()
        if !unknown.isEmpty { throw fail("unknown key(s) \(unknown.joined(separator: ", "))") }
        for key in required where object[key] == nil { throw fail("missing key '\(key)'") }
        let presentNested = nestedKeys.filter { object[$0] != nil }
        if !presentNested.isEmpty && presentNested.count != nestedKeys.count {
            throw fail("has \(presentNested.joined(separator: ", ")) but not all of \(nestedKeys.joined(separator: ", "))")
        }

        guard let typeName = object["quant_type"] as? String, let type = FourBitQuantType(rawValue: typeName) else {
            throw fail("quant_type must be \"nf4\" or \"fp4\", got \(object["quant_type"]!)")
        }
        if !tensor.hasSuffix(Self.blobSuffix(type)) && tensor.contains("quant_state.bitsandbytes__") {
            throw fail("quant_type \"\(typeName)\" does not match the tensor name")
        }
        let blocksize = try Self.integer(object["blocksize"]!, key: "blocksize", fail)
        guard blocksize > 0, blocksize & (blocksize - 1) == 0 else { throw fail("blocksize \(blocksize) is not a power of two") }
        guard let dtype = object["dtype"] as? String, Self.floatDTypes.contains(dtype) else {
            throw fail("dtype must be one of float32, float16, bfloat16, got \(object["dtype"]!)")
        }
        guard let rawShape = object["shape"] as? [Any], !rawShape.isEmpty else { throw fail("shape must be a non-empty list") }
        let shape = try rawShape.map { try Self.integer($0, key: "shape", fail) }
        guard shape.allSatisfy({ $0 > 0 }) else { throw fail("shape \(shape) has a non-positive dimension") }
        var nested: Nested?
        if !presentNested.isEmpty {
            let nestedBlocksize = try Self.integer(object["nested_blocksize"]!, key: "nested_blocksize", fail)
            guard nestedBlocksize > 0 else { throw fail("nested_blocksize must be positive") }
            guard let nestedDType = object["nested_dtype"] as? String, nestedDType == "float32" else {
                throw fail("nested_dtype must be \"float32\", got \(object["nested_dtype"]!)")
            }
            guard let number = object["nested_offset"] as? NSNumber, !Self.isBool(number), number.doubleValue.isFinite else {
                throw fail("nested_offset must be a finite number")
            }
            // bitsandbytes writes the f32 offset widened to a Python float, so narrowing is exact.
            nested = Nested(blocksize: nestedBlocksize, dtype: nestedDType, offset: Float(number.doubleValue))
        }
        self.init(quantType: type, blocksize: blocksize, dtype: dtype, shape: shape, nested: nested)
    }

    /// The blob as `QuantState.as_dict(packed=True)` writes it: `json.dumps` of the non-tensor items in order.
    public func serialized() -> [UInt8] {
        var members: [(String, PythonJSON)] = [
            ("quant_type", .string(quantType.rawValue)),
            ("blocksize", .int(blocksize)),
            ("dtype", .string(dtype)),
            ("shape", .array(shape.map { .int($0) })),
        ]
        if let nested {
            members += [
                ("nested_blocksize", .int(nested.blocksize)),
                ("nested_dtype", .string(nested.dtype)),
                ("nested_offset", .float(Double(nested.offset))),
            ]
        }
        return Array(PythonJSON.object(members).dumps().utf8)
    }

    private static func isBool(_ number: NSNumber) -> Bool {
        let type = String(cString: number.objCType)
        return type == "c" || type == "B"
    }

    private static func integer(_ value: Any, key: String, _ fail: (String) -> QuantizationError) throws -> Int {
        guard let number = value as? NSNumber, !isBool(number), Double(number.intValue) == number.doubleValue else {
            throw fail("\(key) must be an integer, got \(value)")
        }
        return number.intValue
    }
}

/// The fixed code tables bitsandbytes saves next to every 4-bit weight, as it saves them.
public enum BitsAndBytesMaps {
    /// `weight.quant_map`: the 4-bit code table. (16)
    /// bitsandbytes builds FP4's table from Python ints, so index 8 is +0 (the kernel's −0 is a separate detail).
    public static func quantMap(_ type: FourBitQuantType) -> [Float] {
        var code = type.code
        if type == .fp4 { code[8] = 0 }
        return code
    }

    /// `weight.nested_quant_map`: the signed dynamic 8-bit map of double quantization. (256)
    public static var nestedQuantMap: [Float] { CodeTables.dynamic8bit }
}
