import Foundation
import NibbleTestSupport

/// Runs a program (a Python check script, usually) to its end: exit status and everything it printed.
func runScript(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let script = Process()
    script.executableURL = URL(fileURLWithPath: executable)
    script.arguments = arguments
    let pipe = Pipe()
    script.standardOutput = pipe
    script.standardError = pipe
    try script.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    script.waitUntilExit()
    return (script.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Whether `python3` can import `module` here (`scripts/test` installs what the checks need).
func python3Imports(_ module: String) -> Bool {
    (try? runScript("/usr/bin/env", ["python3", "-c", "import \(module)"]))?.status == 0
}

/// A script under `scripts/`.
func repositoryScript(_ name: String) -> String {
    SharedFixtures.repositoryRoot.appendingPathComponent("scripts/\(name)").path
}
