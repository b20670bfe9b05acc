import Foundation

/// The contents of a SentencePiece `tokenizer.model` (a serialized `ModelProto`) that encoding needs.
public struct SentencePieceModel: Sendable {
    /// `ModelProto.SentencePiece.Type`.
    public enum PieceType: Int, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// `TrainerSpec.ModelType`.
    public enum ModelType: Int, Sendable {
        case unigram = 1, bpe = 2, word = 3, char = 4
    }

    /// One vocabulary entry.
    public struct Piece: Sendable, Equatable {
        /// The piece text ("▁the", "<0x0A>", "<s>").
        public var piece: String
        /// Log-probability (unigram) or merge priority (BPE; higher merges first).
        public var score: Float
        /// The piece type.
        public var type: PieceType

        public init(piece: String, score: Float, type: PieceType) {
            self.piece = piece
            self.score = score
            self.type = type
        }
    }

    /// A model with no pieces and SentencePiece's defaults, to be filled in field by field.
    public init() {}

    /// Pieces; the index is the token id.
    public var pieces: [Piece] = []
    /// Segmentation algorithm.
    public var modelType: ModelType = .unigram
    /// Whether characters outside the vocabulary become `<0xNN>` byte pieces.
    public var byteFallback = false
    /// Unknown-token id.
    public var unkId = 0
    /// BOS id, or -1.
    public var bosId = 1
    /// EOS id, or -1.
    public var eosId = 2
    /// Padding id, or -1.
    public var padId = -1
    /// Whether "▁" goes at the end of words instead of the start.
    public var treatWhitespaceAsSuffix = false
    /// Text the unknown token decodes to in the reference library (" ⁇ ").
    public var unknownSurface = " \u{2047} "
    /// Normalizer rule name ("identity", "nmt_nfkc", …).
    public var normalizerName = "identity"
    /// Whether a precompiled character map is present (it is approximated by NFKC).
    public var hasPrecompiledCharsmap = false
    /// Prepend a space ("▁") to the input.
    public var addDummyPrefix = true
    /// Strip leading/trailing spaces and collapse runs of spaces.
    public var removeExtraWhitespaces = true
    /// Replace " " with "▁".
    public var escapeWhitespaces = true

    /// Parses `ModelProto` bytes; `file` is used in error messages.
    public static func parse(_ data: Data, file: String) throws -> SentencePieceModel {
        do {
            return try parse(bytes: [UInt8](data), file: file)
        } catch let error as ProtobufReader.ProtobufError {
            throw TokenizerError.malformedProtobuf(file, reason: error.reason)
        }
    }

    private static func parse(bytes: [UInt8], file: String) throws -> SentencePieceModel {
        var model = SentencePieceModel()
        var reader = ProtobufReader(bytes)
        var sawTrainerSpec = false
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "pieces")
                var message = try reader.readMessage()
                model.pieces.append(try parsePiece(&message))
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "trainer_spec")
                var message = try reader.readMessage()
                try parseTrainerSpec(&message, into: &model)
                sawTrainerSpec = true
            case 3:
                try reader.expect(wire, .lengthDelimited, field: "normalizer_spec")
                var message = try reader.readMessage()
                try parseNormalizerSpec(&message, into: &model)
            default:
                try reader.skip(wire)
            }
        }
        guard !model.pieces.isEmpty else {
            throw TokenizerError.invalidVocabulary(file, reason: "no pieces")
        }
        // A model cut at a field boundary parses cleanly but lacks its trainer spec, which follows the pieces.
        guard sawTrainerSpec else {
            throw TokenizerError.malformedProtobuf(file, reason: "no trainer_spec (file truncated?)")
        }
        for id in [model.unkId, model.bosId, model.eosId, model.padId] where id >= model.pieces.count {
            throw TokenizerError.invalidVocabulary(file, reason: "special id \(id) outside \(model.pieces.count) pieces")
        }
        return model
    }

    private static func parsePiece(_ reader: inout ProtobufReader) throws -> Piece {
        var piece = Piece(piece: "", score: 0, type: .normal)
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "piece")
                piece.piece = try reader.readString()
            case 2:
                try reader.expect(wire, .fixed32, field: "score")
                piece.score = try reader.readFloat()
            case 3:
                try reader.expect(wire, .varint, field: "type")
                let raw = Int(try reader.readInt32())
                guard let type = PieceType(rawValue: raw) else {
                    throw ProtobufReader.ProtobufError(reason: "unknown piece type \(raw)")
                }
                piece.type = type
            default:
                try reader.skip(wire)
            }
        }
        return piece
    }

    private static func parseTrainerSpec(_ reader: inout ProtobufReader, into model: inout SentencePieceModel) throws {
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (3, .varint):
                let raw = Int(try reader.readInt32())
                guard let type = ModelType(rawValue: raw) else {
                    throw ProtobufReader.ProtobufError(reason: "unknown model_type \(raw)")
                }
                model.modelType = type
            case (24, .varint): model.treatWhitespaceAsSuffix = try reader.readBool()
            case (35, .varint): model.byteFallback = try reader.readBool()
            case (40, .varint): model.unkId = Int(try reader.readInt32())
            case (41, .varint): model.bosId = Int(try reader.readInt32())
            case (42, .varint): model.eosId = Int(try reader.readInt32())
            case (43, .varint): model.padId = Int(try reader.readInt32())
            case (44, .lengthDelimited): model.unknownSurface = try reader.readString()
            default: try reader.skip(wire)
            }
        }
    }

    private static func parseNormalizerSpec(_ reader: inout ProtobufReader, into model: inout SentencePieceModel) throws {
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): model.normalizerName = try reader.readString()
            case (2, .lengthDelimited): model.hasPrecompiledCharsmap = !(try reader.readLengthDelimited()).isEmpty
            case (3, .varint): model.addDummyPrefix = try reader.readBool()
            case (4, .varint): model.removeExtraWhitespaces = try reader.readBool()
            case (5, .varint): model.escapeWhitespaces = try reader.readBool()
            default: try reader.skip(wire)
            }
        }
    }
}
