import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1 child channel with Nibble's connection handling in front of the request types:
/// the connection limit and HTTP/1.x conformance (`HTTP1ConformanceHandler`).
struct NibbleHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let limiter: ConnectionLimiter
    /// Time before an idle connection (or one whose request head never ends) is closed.
    let idleTimeout: Duration
    /// Largest request body accepted.
    let maxBodyBytes: Int

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            // Hummingbird's header limits: 80 KiB per field and in all, 1,000 fields.
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = 80 * 1024
            limits.maxHeaderListSize = 80 * 1024
            limits.maxHeaderFieldCount = 1000
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false,  // requests on one connection are answered in order by `handleHTTP`
                withErrorHandling: false,  // a parse error is answered with 400 by `handleHTTP`
                withOutboundHeaderValidation: false,  // HTTP types validate header fields already
                withEncoderConfiguration: .init(),
                withDecoderLimitConfiguration: limits)
            // The tracker sees a request head before anything answers it (the conformance handler's `100 Continue`):
            // a client that got that answer may open another connection at once, which must find this one busy.
            try pipeline.addHandler(ConnectionTrackingHandler(limiter: limiter))
            try pipeline.addHandler(HTTP1ConformanceHandler(maxBodyBytes: maxBodyBytes))
            try pipeline.addHandler(ClientHangupHandler())
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel,
                                       configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with Nibble's connection limit and HTTP/1.x handling.
    static func nibbleHTTP1(limiter: ConnectionLimiter, idleTimeout: Duration, maxBodyBytes: Int) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            NibbleHTTPChannel(responder: responder, limiter: limiter, idleTimeout: idleTimeout, maxBodyBytes: maxBodyBytes)
        }
    }
}
