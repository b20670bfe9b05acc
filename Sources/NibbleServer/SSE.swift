import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Writes server-sent events: `data: {json}\n\n` frames over a chunked response.
struct SSEWriter {
    var writer: any ResponseBodyWriter
    let encoder = JSONEncoder.wire

    mutating func send(_ value: some Encodable) async throws {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(try encoder.encode(value))
        buffer.writeString("\n\n")
        try await write(buffer)
    }

    /// Writes, marking a failure as the connection's (not the generation's), so it is not sent as an event.
    private mutating func write(_ buffer: ByteBuffer) async throws {
        do { try await writer.write(buffer) } catch { throw SSEWriteError(underlying: error) }
    }

    /// OpenAI's terminator; llama.cpp's native route does not send it.
    mutating func sendDone() async throws {
        try await write(ByteBuffer(string: "data: [DONE]\n\n"))
    }

    /// An error after the stream started: the status is already 200, so it travels as a frame.
    mutating func send(error: APIError) async throws {
        try await send(error.envelope)
    }
}

/// The connection failed while writing an event.
struct SSEWriteError: Error {
    let underlying: any Error
}

enum SSE {
    /// A streaming response whose producer ends as soon as the client is gone, so the engine stops generating for
    /// nobody: the first event that cannot be written ends the producer, and with it the event stream.
    ///
    /// The end of the request stream is not taken as the client leaving: a client may half-close its side after
    /// sending the request and still read the whole answer.
    static func response(for _: Request,
                         produce: @escaping @Sendable (inout SSEWriter) async throws -> Void) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var sse = SSEWriter(writer: writer)
            do {
                try await produce(&sse)
            } catch is CancellationError {
                return  // the server is stopping the connection; nothing more can be written
            } catch let error as SSEWriteError {
                throw error.underlying  // the client is gone
            } catch {
                try? await sse.send(error: APIError(error))
            }
            try await sse.writer.finish(nil)
        })
    }
}
