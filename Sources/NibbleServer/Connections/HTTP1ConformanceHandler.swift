import Foundation
import NIOCore
import NIOHTTP1

/// The parts of HTTP/1.x the request/response types above it cannot express, handled on the raw HTTP/1 parts:
///
/// - HTTP/1.0: the response carries the request's version, so a body without `Content-Length` is delimited by
///   closing the connection (never chunked, which 1.0 clients do not understand); the connection is closed
///   after the response unless the client asked for keep-alive (and the response has a length).
/// - Any request without keep-alive (`Connection: close`) is closed after its response.
/// - `Expect: 100-continue` is answered with `100 Continue` before the body is read, unless the announced
///   `Content-Length` is over the body limit: then 413 at once, so the client never sends a body it cannot send;
///   other expectations get 417.
/// - `CONNECT` and methods no route takes get 405 and the connection is closed, so no tunnel or unparsed body is
///   left hanging.
final class HTTP1ConformanceHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Methods some route may take; anything else is refused here.
    static let servedMethods: [HTTPMethod] = [.GET, .HEAD, .POST, .PUT, .DELETE, .PATCH, .OPTIONS]

    /// Largest request body accepted (`max_body_bytes`).
    private let maxBodyBytes: Int

    init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    private var version = HTTPVersion.http1_1
    private var keepAlive = true
    /// The current response ends the connection.
    private var closeAfterResponse = false
    /// The request was refused here; its remaining parts are dropped.
    private var discarding = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(var head):
            discarding = false
            version = head.version
            keepAlive = head.isKeepAlive
            closeAfterResponse = !keepAlive
            guard Self.servedMethods.contains(head.method) else {
                refuse(context: context, status: .methodNotAllowed,
                       message: "Method \(head.method.rawValue) is not supported by this server",
                       type: "invalid_request_error", bodyAllowed: head.method != .CONNECT)
                return
            }
            if let expectation = head.headers.first(name: "expect") {
                guard expectation.lowercased() == "100-continue" else {
                    refuse(context: context, status: .expectationFailed,
                           message: "Expectation '\(expectation)' is not supported (only 100-continue is)",
                           type: "invalid_request_error", bodyAllowed: true)
                    return
                }
                if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBodyBytes {
                    refuse(context: context, status: .payloadTooLarge,
                           message: "Request body exceeds the limit of \(maxBodyBytes) bytes",
                           type: "invalid_request_error", bodyAllowed: true)
                    return
                }
                head.headers.remove(name: "expect")
                // 1.0 clients do not know interim responses; they send the body anyway.
                if version.major == 1 && version.minor >= 1 {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .continue))),
                                          promise: nil)
                }
            }
            context.fireChannelRead(wrapInboundOut(.head(head)))
        case .body, .end:
            if !discarding { context.fireChannelRead(data) }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            // Informational heads (100 Continue) pass as they are; the final head gets the request's framing.
            if (100..<200).contains(head.status.code) {
                context.write(data, promise: promise)
                return
            }
            head.version = version
            let hasLength = head.headers.contains(name: "content-length")
            // The layers above close the connection after some answers (a parse error); keep saying so.
            if head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "close" }) {
                closeAfterResponse = true
            }
            if version.major == 1 && version.minor == 0 {
                head.headers.remove(name: "transfer-encoding")
                // Without a length, the end of the body is the end of the connection.
                if !hasLength { closeAfterResponse = true }
            }
            head.headers.remove(name: "connection")
            if closeAfterResponse {
                head.headers.add(name: "connection", value: "close")
            } else if version.major == 1 && version.minor == 0 {
                head.headers.add(name: "connection", value: "keep-alive")
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            guard closeAfterResponse else {
                context.write(data, promise: promise)
                return
            }
            let written = promise ?? context.eventLoop.makePromise()
            context.write(data, promise: written)
            let channel = context.channel
            // Only the sending side: the client reads the end of the answer, then closes; a full close with
            // request bytes still unread would reset the connection and could destroy the answer in flight.
            written.futureResult.whenComplete { _ in channel.close(mode: .output, promise: nil) }
        }
    }

    /// Answers the current request here with the error envelope and ends the connection (its sending side; the
    /// idle timeout closes it if the client does not).
    private func refuse(context: ChannelHandlerContext, status: HTTPResponseStatus, message: String, type: String,
                        bodyAllowed: Bool) {
        discarding = true
        closeAfterResponse = true
        let envelope = ErrorEnvelope(error: .init(code: Int(status.code), message: message, type: type))
        let body = (try? JSONEncoder.wire.encode(envelope)) ?? Data()
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        if status == .methodNotAllowed { headers.add(name: "allow", value: "GET, HEAD, POST, OPTIONS") }
        if bodyAllowed { headers.add(name: "content-length", value: String(body.count)) }
        headers.add(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if bodyAllowed { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil) }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(mode: .output, promise: nil) }
    }
}
