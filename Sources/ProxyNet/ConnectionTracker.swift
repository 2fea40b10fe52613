import NIOCore
import Synchronization

/// The open child channels of one listener, so shutdown can wait for them to finish (graceful)
/// or close them all (forced). One lock operation per connection open and close, none per packet.
public final class ConnectionTracker: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    public init() {}

    public var count: Int { state.withLock { $0.channels.count } }

    /// Tracks `channel` until it closes.
    public func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.channels[id] = channel }
        channel.closeFuture.whenComplete { _ in
            let waiters: [CheckedContinuation<Void, Never>] = self.state.withLock { s in
                s.channels[id] = nil
                guard s.channels.isEmpty else { return [] }
                defer { s.waiters = [] }
                return s.waiters
            }
            waiters.forEach { $0.resume() }
        }
    }

    /// Sends every open connection NIO's quiesce event (finish the current exchange, then close).
    public func quiesceAll() {
        for channel in state.withLock({ Array($0.channels.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    /// Closes every open connection now.
    public func closeAll() {
        for channel in state.withLock({ Array($0.channels.values) }) {
            channel.close(promise: nil)
        }
    }

    /// Returns when no tracked connection is open.
    public func waitUntilEmpty() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s in
                if s.channels.isEmpty { return true }
                s.waiters.append(c)
                return false
            }
            if done { c.resume() }
        }
    }
}
