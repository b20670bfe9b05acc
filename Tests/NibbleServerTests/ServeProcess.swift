import Foundation
import NibbleTestSupport
import Synchronization

/// `nibble serve` run as a separate process from the repository root, as an operator starts it.
final class ServeProcess: Sendable {
    private let process: Process
    private let errorOutput = OutputLog()
    /// The port it listens on (it is started with `--port 0` unless the arguments name one).
    let port: Int

    /// Starts the server and waits until it listens (or fails) and, with `waitForModels`, until /health is 200.
    init(_ arguments: [String], environment: [String: String] = [:], waitForModels: Bool = true) throws {
        let process = Process()
        process.executableURL = CommandRunner.nibbleExecutable
        process.arguments = ["serve"] + (arguments.contains("--port") ? [] : ["--port", "0"]) + arguments
        process.currentDirectoryURL = SharedFixtures.repositoryRoot
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        let output = errorOutput
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            output.data.withLock { $0.append(data) }
        }
        try process.run()
        self.process = process
        var found: Int?
        let deadline = Date().addingTimeInterval(120)
        while found == nil, process.isRunning, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            let text = String(decoding: output.data.withLock { $0 }, as: UTF8.self)
            for line in text.split(separator: "\n") where line.contains("listening") {
                if let range = line.range(of: #"port=\d+"#, options: .regularExpression) {
                    found = Int(line[range].dropFirst(5))
                }
            }
        }
        guard let found else {
            if process.isRunning { process.terminate() }
            throw TestHTTPError("nibble serve did not start: \(String(decoding: output.data.withLock { $0 }, as: UTF8.self))")
        }
        port = found
        guard waitForModels else { return }
        while Date() < deadline {
            if let connection = try? RawHTTPConnection(port: found),
               (try? connection.send(method: "GET", path: "/health")) != nil,
               (try? connection.readResponse())?.status == 200 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestHTTPError("nibble serve did not get ready: \(stderr)")
    }

    var stderr: String { String(decoding: errorOutput.data.withLock { $0 }, as: UTF8.self) }

    var isRunning: Bool { process.isRunning }

    func send(signal: Int32) { kill(process.processIdentifier, signal) }

    /// The exit status once it exits within `seconds`; nil if it still runs (it is then killed).
    func exitStatus(within seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Runs `nibble serve` that must fail at start: its exit status (nil if it still ran after `seconds`, then it
/// is killed) and what it wrote to stderr.
func serveFailure(_ arguments: [String], environment: [String: String] = [:],
                  within seconds: Double = 60) throws -> (status: Int32?, stderr: String) {
    let process = Process()
    process.executableURL = CommandRunner.nibbleExecutable
    process.arguments = ["serve"] + (arguments.contains("--port") ? [] : ["--port", "0"]) + arguments
    process.currentDirectoryURL = SharedFixtures.repositoryRoot
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-serve-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errorFile) }
    process.standardError = try FileHandle(forWritingTo: errorFile)
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    var status: Int32?
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    } else {
        status = process.terminationStatus
    }
    return (status, (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "")
}

/// Bytes a child process wrote, appended from the pipe's reader thread.
final class OutputLog: Sendable {
    let data = Mutex(Data())
}
