import NIOCore
import NIOHTTP1

/// The players of one fan-out upstream on one event loop: the hub sends each message once per
/// loop (one task per chunk per loop, not per player), the group hands it to its players and
/// flushes each once. Confined to its loop.
final class FanoutLoopGroup: @unchecked Sendable {
    /// What a joining player gets at once: the response head when the upstream has one, the
    /// preamble and the cached GOP (nil: wait for the next keyframe).
    struct Snapshot: Sendable {
        var head: HTTPResponseHead?
        var preamble: [ByteBuffer]
        var gop: [ByteBuffer]?
    }

    enum Message: Sendable {
        case attach(FanoutSubscriber, Snapshot)
        case head(HTTPResponseHead)
        case chunk(FLVChunk, preamble: [ByteBuffer], hasVideo: Bool)
        case end(FanoutEnd)
    }

    let loop: any EventLoop
    private let rules: FanoutHub.PlayerRules
    private let stats: FanoutStats
    private var subscribers: [FanoutSubscriber] = []

    init(loop: any EventLoop, rules: FanoutHub.PlayerRules, stats: FanoutStats) {
        self.loop = loop
        self.rules = rules
        self.stats = stats
    }

    /// Runs `message` on the group's loop: at once when the caller is on it, else as one task.
    func send(_ message: Message) {
        if loop.inEventLoop {
            handle(message)
        } else {
            loop.execute { self.handle(message) }
        }
    }

    func detach(_ subscriber: FanoutSubscriber) {
        let i = subscriber.index
        guard i >= 0, i < subscribers.count, subscribers[i] === subscriber else { return }
        subscribers.swapAt(i, subscribers.count - 1)
        subscribers[i].index = i
        subscribers.removeLast()
        subscriber.index = -1
    }

    private func handle(_ message: Message) {
        switch message {
        case .attach(let subscriber, let snapshot):
            // A player that left before its join arrived is not attached.
            guard subscriber.hub != nil, subscriber.connection != nil else { return }
            subscriber.index = subscribers.count
            subscriber.group = self
            subscribers.append(subscriber)
            guard let head = snapshot.head else { return }
            guard subscriber.start(head: head) else { return }
            if let gop = snapshot.gop {
                subscriber.begin(preamble: snapshot.preamble, gop: gop)
            }
            flush(subscriber)
        case .head(let head):
            for subscriber in subscribers where subscriber.state == .waitingHead {
                _ = subscriber.start(head: head)
                flush(subscriber)
            }
        case .chunk(let chunk, let preamble, let hasVideo):
            var delivered = 0
            // Iterated by index: a subscriber may end (and leave the array) while it is handed a chunk.
            var i = 0
            while i < subscribers.count {
                let subscriber = subscribers[i]
                subscriber.deliver(chunk, preamble: preamble, hasVideo: hasVideo, rules: rules, stats: stats)
                delivered &+= subscriber.bytesThisChunk
                flush(subscriber)
                if i < subscribers.count, subscribers[i] === subscriber { i += 1 }
            }
            if delivered > 0 { stats.deliveredBytes.wrappingAdd(UInt64(delivered), ordering: .relaxed) }
        case .end(let end):
            let ending = subscribers
            subscribers.removeAll()
            for subscriber in ending {
                subscriber.index = -1
                subscriber.hub = nil
                subscriber.group = nil
                subscriber.connection?.fanoutEnded(end)
            }
        }
    }

    private func flush(_ subscriber: FanoutSubscriber) {
        subscriber.bytesThisChunk = 0
        guard subscriber.wrote else { return }
        subscriber.wrote = false
        subscriber.connection?.fanoutFlush()
    }
}
