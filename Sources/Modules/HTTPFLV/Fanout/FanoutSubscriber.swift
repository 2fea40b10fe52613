import NIOCore
import NIOHTTP1

/// How a fan-out upstream ended for one player.
enum FanoutEnd: Sendable {
    /// The origin could not be reached, or closed before its response head: route again.
    case unreachable(String)
    /// The origin sent no response head within `backend_timeout`.
    case timeout(String)
    /// The origin answered this status instead of a stream.
    case refused(HTTPResponseStatus)
    /// The origin's response or its FLV was broken.
    case broken(String)
    /// The stream ended at the origin (the publisher left): the player's response ends.
    case ended(String)
    /// The upstream had closed when this player's join reached it: join again.
    case retry
    /// This player was too slow (`slow_player: disconnect`) or took nothing for too long.
    case slow(String)
}

/// What a fan-out subscriber needs from the player's connection (HTTPFLVSession), on its loop.
protocol FanoutPlayerConnection: AnyObject {
    /// Writes the response head; false when the player is gone.
    func fanoutHead(_ head: HTTPResponseHead) -> Bool
    /// Queues bytes (no flush).
    func fanoutWrite(_ bytes: ByteBuffer)
    func fanoutFlush()
    /// The player's queue is under its bound.
    var fanoutWritable: Bool { get }
    func fanoutEnded(_ end: FanoutEnd)
}

/// One player of a fan-out upstream, confined to its connection's event loop. It starts at a
/// keyframe (the cached GOP, or the next one), then gets every chunk; a player whose queue is
/// over its bound stops at the next tag boundary and, once drained, starts again at the next
/// keyframe with the sequence headers sent again (`skip`), or is closed (`disconnect`).
final class FanoutSubscriber: @unchecked Sendable {
    enum State {
        /// Joined before the upstream's head.
        case waitingHead
        /// Head sent; waiting for a keyframe (the stream's first tag without video).
        case joining
        case live
        /// Slow: writing the rest of the current tag, then skipping.
        case finishingTag
        /// Slow: skipping until drained and at a keyframe.
        case skipping
    }

    let loop: any EventLoop
    private(set) weak var connection: (any FanoutPlayerConnection)?
    var state = State.waitingHead
    /// Its place in its group's array.
    var index = -1
    /// The hub it joined (set on its loop before the join is sent; nil once it left).
    var hub: FanoutHub?
    /// The group it is in, once its join arrived.
    var group: FanoutLoopGroup?
    /// When its queue went over the bound (for the stall limit).
    var slowSince: NIODeadline?
    var wrote = false
    var bytesThisChunk = 0

    init(loop: any EventLoop, connection: any FanoutPlayerConnection) {
        self.loop = loop
        self.connection = connection
    }

    /// The player leaves (its response ended or its client went): the hub hears of it once.
    func leave() {
        loop.preconditionInEventLoop()
        guard let hub else { return }
        self.hub = nil
        group?.detach(self)
        group = nil
        hub.playerLeft(on: loop)
    }

    func start(head: HTTPResponseHead) -> Bool {
        guard let connection, connection.fanoutHead(head) else { return false }
        state = .joining
        return true
    }

    /// Writes what a joining player needs before live chunks: the preamble and the cached GOP.
    func begin(preamble: [ByteBuffer], gop: [ByteBuffer]) {
        for buffer in preamble { write(buffer) }
        for buffer in gop { write(buffer) }
        state = .live
    }

    /// One chunk of the stream, as this player's state wants it.
    func deliver(_ chunk: FLVChunk, preamble: [ByteBuffer], hasVideo: Bool, rules: FanoutHub.PlayerRules, stats: FanoutStats) {
        guard let connection else { return }
        switch state {
        case .waitingHead:
            return
        case .joining:
            guard let start = hasVideo ? chunk.firstKeyframe : chunk.firstTag else { return }
            for buffer in preamble { write(buffer) }
            write(start == 0 ? chunk.bytes : chunk.suffix(from: start))
            state = .live
        case .live:
            if connection.fanoutWritable { return write(chunk.bytes) }
            if rules.policy == .disconnect {
                stats.slowDisconnects.wrappingAdd(1, ordering: .relaxed)
                return connection.fanoutEnded(.slow("player queue over player_queue_bytes (slow_player: disconnect)"))
            }
            stats.slowSkips.wrappingAdd(1, ordering: .relaxed)
            slowSince = .now()
            finishTag(chunk)
        case .finishingTag:
            finishTag(chunk)
        case .skipping:
            guard connection.fanoutWritable else {
                if let since = slowSince, NIODeadline.now() - since > rules.stallLimit {
                    stats.slowDisconnects.wrappingAdd(1, ordering: .relaxed)
                    connection.fanoutEnded(.slow("player took nothing for \(rules.stallLimit.nanoseconds / 1_000_000_000) s"))
                }
                return
            }
            guard let start = hasVideo ? chunk.firstKeyframe : chunk.firstTag else { return }
            // Back at a keyframe: the sequence headers again (they may have changed meanwhile).
            for buffer in preamble.dropFirst() { write(buffer) }
            write(start == 0 ? chunk.bytes : chunk.suffix(from: start))
            slowSince = nil
            state = .live
        }
    }

    /// Writes up to the next tag boundary, so the player's FLV stays whole, then skips.
    private func finishTag(_ chunk: FLVChunk) {
        guard let boundary = chunk.firstTag else {
            state = .finishingTag
            return write(chunk.bytes)
        }
        if boundary > 0 { write(chunk.prefix(upTo: boundary)) }
        state = .skipping
    }

    private func write(_ bytes: ByteBuffer) {
        wrote = true
        bytesThisChunk &+= bytes.readableBytes
        connection?.fanoutWrite(bytes)
    }
}
