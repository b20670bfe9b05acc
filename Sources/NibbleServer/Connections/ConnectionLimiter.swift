import NIOCore
import NIOHTTP1
import Synchronization

/// Bounds the open connections, so idle keep-alive sockets cannot exhaust file descriptors.
///
/// At the limit a new connection takes the place of the connection idle the longest (one that sent nothing, or
/// whose last response is complete); when every connection is busy with a request, the new one is closed at once.
/// Either way a client is answered or closed, never left accepted and unserved.
final class ConnectionLimiter: Sendable {
    /// Most connections open at once.
    let limit: Int

    private struct Entry {
        let channel: any Channel
        /// A request is being read or answered.
        var busy: Bool
        /// Order in which connections became idle (smaller: idle for longer).
        var idleSince: UInt64
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var clock: UInt64 = 0
        var evicted = 0
        var refused = 0
    }

    private let state = Mutex(State())

    init(limit: Int) {
        precondition(limit > 0, "the connection limit must be positive")
        self.limit = limit
    }

    /// Counts `channel` as open. Returns false when it must be closed: the limit is reached and no connection is
    /// idle. Closing an idle connection to make room happens here.
    func admit(_ channel: any Channel) -> Bool {
        let key = ObjectIdentifier(channel)
        let (admitted, victim) = state.withLock { state -> (Bool, (any Channel)?) in
            state.clock += 1
            var victim: (any Channel)?
            if state.entries.count >= limit {
                // Only reached at the limit, so the linear scan costs nothing in normal operation.
                guard let oldest = state.entries.filter({ !$0.value.busy }).min(by: { $0.value.idleSince < $1.value.idleSince })
                else {
                    state.refused += 1
                    return (false, nil)
                }
                victim = oldest.value.channel
                state.entries[oldest.key] = nil
                state.evicted += 1
            }
            state.entries[key] = Entry(channel: channel, busy: false, idleSince: state.clock)
            return (true, victim)
        }
        victim?.close(promise: nil)
        return admitted
    }

    /// A request started (busy) or its response ended (idle) on `channel`.
    func mark(_ channel: any Channel, busy: Bool) {
        let key = ObjectIdentifier(channel)
        state.withLock { state in
            guard state.entries[key] != nil else { return }
            state.clock += 1
            state.entries[key]!.busy = busy
            if !busy { state.entries[key]!.idleSince = state.clock }
        }
    }

    /// `channel` closed.
    func remove(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        _ = state.withLock { $0.entries.removeValue(forKey: key) }
    }

    /// Open connections, idle connections closed to admit new ones, and connections refused at the limit.
    var counts: (open: Int, evicted: Int, refused: Int) {
        state.withLock { ($0.entries.count, $0.evicted, $0.refused) }
    }
}

/// Reports one connection's requests to the `ConnectionLimiter`, and closes it at once when it is not admitted.
final class ConnectionTrackingHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let limiter: ConnectionLimiter
    private var admitted = false

    init(limiter: ConnectionLimiter) { self.limiter = limiter }

    func channelActive(context: ChannelHandlerContext) {
        admitted = limiter.admit(context.channel)
        guard admitted else {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if admitted { limiter.remove(context.channel) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard admitted else { return }
        if case .head = unwrapInboundIn(data) { limiter.mark(context.channel, busy: true) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { limiter.mark(context.channel, busy: false) }
        context.write(data, promise: promise)
    }
}
