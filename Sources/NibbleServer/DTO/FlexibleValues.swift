/// A field clients send either as one string or as a list (`"stop": "###"` or `"stop": ["###", "\n"]`).
struct StringOrList: Decodable, Equatable {
    var values: [String]

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            values = []
        } else if let one = try? container.decode(String.self) {
            values = [one]
        } else {
            values = try container.decode([String].self)
        }
    }
}
