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
        try await writer.write(buffer)
    }

    /// OpenAI's terminator; llama.cpp's native route does not send it.
    mutating func sendDone() async throws {
        try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
    }

    /// An error after the stream started: the status is already 200, so it travels as a frame.
    mutating func send(error: APIError) async throws {
        try await send(error.envelope)
    }
}

enum SSE {
    /// A streaming response whose producer is cancelled as soon as the client closes the connection, so the
    /// engine stops generating for nobody (the consumer of the event stream goes away with the task).
    ///
    /// `request` must carry its original body stream (read it with `JSONBody.decode(_:from:limits:)`, which
    /// puts the bytes back): the connection's end is seen on that stream.
    static func response(for request: Request,
                         produce: @escaping @Sendable (inout SSEWriter) async throws -> Void) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var sse = SSEWriter(writer: writer)
            do {
                try await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await produce(&sse)
                }
            } catch is CancellationError {
                return  // the client is gone; nothing more can be written
            } catch {
                try? await sse.send(error: APIError(error))
            }
            try await sse.writer.finish(nil)
        })
    }
}
