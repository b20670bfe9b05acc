import Foundation
import NibbleTestSupport
@testable import NibbleGrammar

/// Seeded random strings from a grammar: pick an allowed byte at random (now and then the one that keeps stacks
/// shallowest, so nesting closes) until the grammar can end and a coin says stop.
func randomWalk(_ grammar: Grammar, seed: UInt64, count: Int, maxBytes: Int = 600) -> [String] {
    var rng = SeededRandom(seed: seed)
    var out: [String] = []
    var attempts = 0
    while out.count < count && attempts < count * 4 {
        attempts += 1
        var m = GrammarMatcher(grammar: grammar)
        var bytes: [UInt8] = []
        while true {
            if m.canEnd && (m.isComplete || Int.random(in: 0..<4, using: &rng) == 0) { break }
            var allowed: [(UInt8, Int)] = []
            for b in 0...255 {
                var copy = m
                if copy.accept(UInt8(b)) { allowed.append((UInt8(b), copy.maxStackDepth)) }
            }
            if allowed.isEmpty || bytes.count > maxBytes { break }
            let closing = bytes.count > maxBytes / 3 || Int.random(in: 0..<3, using: &rng) == 0
            let pick = closing ? allowed.min { $0.1 < $1.1 }!.0 : allowed.randomElement(using: &rng)!.0
            m.accept(pick)
            bytes.append(pick)
        }
        if m.canEnd, let text = String(validating: bytes, as: UTF8.self) { out.append(text) }
    }
    return out
}

enum PythonValidator {
    static let available: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import jsonschema"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    /// For each instance text, nil if it parses as JSON and validates against `schema` with the `jsonschema`
    /// library (format checks on), else the reason.
    static func validate(schema: String, instances: [String]) throws -> [String?] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-grammar-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.json")
        let payload: [String: Any] = ["schema": schema, "instances": instances]
        try JSONSerialization.data(withJSONObject: payload).write(to: input)
        let script = """
        import json, sys, jsonschema
        d = json.load(open(sys.argv[1]))
        schema = json.loads(d["schema"])
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        v = cls(schema, format_checker=cls.FORMAT_CHECKER)
        out = []
        for text in d["instances"]:
            try:
                inst = json.loads(text)
            except Exception as e:
                out.append("not JSON: %s" % e); continue
            errs = [e.message for e in v.iter_errors(inst)]
            out.append(errs[0] if errs else None)
        print(json.dumps(out))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, input.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let decoded = try JSONSerialization.jsonObject(with: data) as? [Any] ?? []
        return decoded.map { $0 as? String }
    }
}
