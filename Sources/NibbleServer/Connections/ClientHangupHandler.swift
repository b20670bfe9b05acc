import NIOCore
import NIOHTTP1

/// Tells a client that hung up from one that only half-closed, while its answer is still being computed.
///
/// Both look the same on our side: the request stream ends (`inputClosed`). A client that half-closed still reads
/// and must get its answer; one that closed its socket must have its generation cancelled (the handler waiting for
/// it is cancelled when the channel closes). The only way to tell is to send something: while no final response
/// head has gone out, the end of input starts interim `100 Continue` responses, which HTTP/1.1 clients must accept
/// and skip before the final one (RFC 9110 §15.2). A closed socket answers the first with a reset, so a later
/// write fails and the channel closes. Probes back off from 50 ms to 1 s; HTTP/1.0 clients, which do not know
/// interim responses, are never probed.
final class ClientHangupHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    static let firstProbeDelay = TimeAmount.milliseconds(50)
    static let longestProbeDelay = TimeAmount.seconds(1)

    /// A request was read whose final response head has not been written yet.
    private var awaitingHead = false
    private var interimAllowed = true
    private var inputClosed = false
    private var probe: Scheduled<Void>?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            awaitingHead = true
            interimAllowed = head.version.major == 1 && head.version.minor >= 1
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputClosed = true
            scheduleProbe(context: context, after: Self.firstProbeDelay)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head(let head) = unwrapOutboundIn(data), !(100..<200).contains(head.status.code) {
            awaitingHead = false
            probe?.cancel()
            probe = nil
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        probe?.cancel()
        probe = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        probe?.cancel()
        probe = nil
    }

    private func scheduleProbe(context: ChannelHandlerContext, after delay: TimeAmount) {
        guard inputClosed, awaitingHead, interimAllowed, probe == nil, context.channel.isActive else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        probe = context.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = loopBound.value
            handler.probe = nil
            guard handler.awaitingHead, context.channel.isActive else { return }
            let interim = HTTPResponseHead(version: .http1_1, status: .continue)
            context.writeAndFlush(handler.wrapOutboundOut(.head(interim)), promise: nil)
            handler.scheduleProbe(context: context, after: min(delay * 2, Self.longestProbeDelay))
        }
    }
}
