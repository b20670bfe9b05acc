import Foundation

/// Renders snippets with the real jinja2, set up as transformers' `render_jinja_template` sets it up
/// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its `tojson`, `raise_exception`,
/// `strftime_now` pinned to 2026-07-26 12:00), so the engine is compared with jinja2 itself.
enum Jinja2Reference {
    static let script = #"""
import json, sys
from datetime import datetime
try:
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.ext import loopcontrols
    from jinja2.exceptions import TemplateError
except ImportError:
    sys.exit(3)

def raise_exception(message):
    raise TemplateError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda fmt: datetime(2026, 7, 26, 12, 0, 0).strftime(fmt)
request = json.load(sys.stdin)
out = []
for source in request["templates"]:
    try:
        out.append({"text": env.from_string(source).render(**json.loads(request["variables"]))})
    except Exception as e:
        out.append({"error": type(e).__name__ + ": " + str(e)})
json.dump(out, sys.stdout)
"""#

    /// Whether python3 with jinja2 can run here.
    static let available: Bool = (try? render(["x"], variables: "{}")) != nil

    /// jinja2's output (`text`) or error message (`error`) for each template, with `variables` (JSON) defined.
    static func render(_ templates: [String], variables: String) throws -> [[String: String]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let request: [String: Any] = [
            "templates": templates,
            // Passed as text: the key order of its objects is part of what `tojson` and `items` show.
            "variables": variables,
        ]
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: request))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let results = try JSONSerialization.jsonObject(with: data) as? [[String: String]] else {
            throw CocoaError(.featureUnsupported)
        }
        return results
    }
}
