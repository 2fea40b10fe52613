import NIOCore
import Synchronization

/// How many connections one listener holds: in all, and from one client address. With `live`
/// set, the trackers holding it follow that shared value instead (a configuration reload).
public struct ConnectionLimits: Sendable, Equatable {
    public var perListener: Int
    public var perAddress: Int
    /// Shared limits every listener of the process follows; nil: these fixed values.
    public var live: LiveConnectionLimits?

    public init(perListener: Int = 4096, perAddress: Int = 512, live: LiveConnectionLimits? = nil) {
        self.perListener = perListener
        self.perAddress = perAddress
        self.live = live
    }

    /// No limit (tests of the mechanisms themselves).
    public static let none = ConnectionLimits(perListener: .max, perAddress: .max)

    /// The limits in force now.
    public var current: ConnectionLimits { live?.current ?? ConnectionLimits(perListener: perListener, perAddress: perAddress) }

    public static func == (a: ConnectionLimits, b: ConnectionLimits) -> Bool {
        a.perListener == b.perListener && a.perAddress == b.perAddress && a.live === b.live
    }
}

/// Connection limits shared by every listener, replaced by a configuration reload: connections
/// accepted from then on count against the new values, open ones stay.
public final class LiveConnectionLimits: Sendable {
    private let perListener: Atomic<Int>
    private let perAddress: Atomic<Int>

    public init(_ limits: ConnectionLimits) {
        perListener = Atomic(limits.perListener)
        perAddress = Atomic(limits.perAddress)
    }

    public var current: ConnectionLimits {
        ConnectionLimits(perListener: perListener.load(ordering: .relaxed), perAddress: perAddress.load(ordering: .relaxed))
    }

    public func set(_ limits: ConnectionLimits) {
        perListener.store(limits.perListener, ordering: .relaxed)
        perAddress.store(limits.perAddress, ordering: .relaxed)
    }
}

/// The open child channels of one listener, so shutdown can wait for them to finish (graceful)
/// or close them all (forced), and so the listener's `ConnectionLimits` hold: a connection past
/// either limit is refused as it is accepted. One lock operation per connection open and close,
/// none per packet.
public final class ConnectionTracker: Sendable {
    /// Why a connection was refused.
    public enum Refusal: String, Sendable {
        case listenerFull = "listener_full", addressFull = "address_full"
    }

    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var perAddress: [String: Int] = [:]
        var waiters: [CheckedContinuation<Void, Never>] = []
        var refused: [Refusal: UInt64] = [:]
    }
    private let state = Mutex(State())
    public let limits: ConnectionLimits

    public init(limits: ConnectionLimits = .none) {
        self.limits = limits
    }

    public var count: Int { state.withLock { $0.channels.count } }

    /// Connections refused so far, by why.
    public var refused: [Refusal: UInt64] { state.withLock { $0.refused } }

    /// Tracks `channel` until it closes, unless it is past a limit: then it is not tracked and the
    /// refusal is returned (the caller closes it).
    @discardableResult
    public func add(_ channel: any Channel) -> Refusal? {
        let id = ObjectIdentifier(channel)
        let address = channel.remoteAddress?.ipAddress ?? ""
        let limits = self.limits.current
        let refusal: Refusal? = state.withLock { s in
            if s.channels.count >= limits.perListener {
                s.refused[.listenerFull, default: 0] += 1
                return .listenerFull
            }
            if s.perAddress[address, default: 0] >= limits.perAddress {
                s.refused[.addressFull, default: 0] += 1
                return .addressFull
            }
            s.channels[id] = channel
            s.perAddress[address, default: 0] += 1
            return nil
        }
        if let refusal { return refusal }
        channel.closeFuture.whenComplete { _ in
            let waiters: [CheckedContinuation<Void, Never>] = self.state.withLock { s in
                s.channels[id] = nil
                if let n = s.perAddress[address], n > 1 { s.perAddress[address] = n - 1 } else { s.perAddress[address] = nil }
                guard s.channels.isEmpty else { return [] }
                defer { s.waiters = [] }
                return s.waiters
            }
            waiters.forEach { $0.resume() }
        }
        return nil
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
