import Logging
import NIOCore
import NIOPosix
import ProxyCore
import Synchronization

#if os(Linux)
import CUDPBatch
import Glibc
#else
import Darwin
#endif

/// A UDP module's data path outside SwiftNIO's datagram channels (Linux): one thread with its own
/// epoll set over the module's listening socket and its sessions' connected backend sockets. It
/// reads with `recvmmsg` into preallocated slots, relays the datagrams of established routes
/// straight to the partner socket with `sendmmsg` (with UDP GSO for runs of same-size datagrams,
/// pointing at the receive slots: no copy, no allocation per datagram), and hands everything else
/// (handshakes, unknown or malformed datagrams, a backend's datagrams before its route is
/// established, socket errors) to the module's session logic on `eventLoop`, copied, one
/// `execute` per wakeup.
///
/// The module keeps its NIO channels on the same sockets for everything it sends itself
/// (handshake replies, SHUTDOWN) and for their lifetime; those channels do not read (autoRead
/// off): UDPListener and UDPBackendDialer give the thread a duplicate of each descriptor.
///
/// Threading: the thread owns its tables; the event loop changes them through a command queue
/// (a Mutex-protected array and an eventfd), so the hot path takes no lock. Counters and a
/// route's last-seen time cross back through atomics, written once per wakeup. Bounds: a send
/// that would block drops the datagram (counted in `takeLost()`), and at most
/// `Settings.maxQueuedToLoop` datagrams wait for the event loop (more are dropped and counted).
public final class UDPFastPath: Sendable {
    /// What the fast path needs to know about the protocol.
    public struct Rules: Sendable {
        /// The route key of a client's datagram, or nil when only the session logic handles it
        /// (SRT: the destination socket id of a data or control packet other than a handshake).
        public var clientKey: @Sendable (UnsafeRawBufferPointer) -> UInt32?
        /// A relayed datagram (either direction) the session logic must see too (SRT: SHUTDOWN).
        public var notify: @Sendable (UnsafeRawBufferPointer) -> Bool

        public init(
            clientKey: @escaping @Sendable (UnsafeRawBufferPointer) -> UInt32?,
            notify: @escaping @Sendable (UnsafeRawBufferPointer) -> Bool
        ) {
            self.clientKey = clientKey
            self.notify = notify
        }
    }

    public struct Settings: Sendable {
        /// UDP GSO for runs of same-size datagrams to one destination.
        public var gso: Bool
        /// Datagrams per `recvmmsg`, and `recvmmsg` calls per readable socket and wakeup.
        public var batchSize: Int
        public var readsPerWakeup: Int
        /// Receive slot size: longer datagrams are cut by the kernel (SRT and WebRTC stay under 1,500 bytes).
        public var maxDatagramSize: Int
        /// Most datagrams handed to the event loop and not yet processed.
        public var maxQueuedToLoop: Int

        public init(gso: Bool = true, batchSize: Int = 64, readsPerWakeup: Int = 8, maxDatagramSize: Int = 2048, maxQueuedToLoop: Int = 4096) {
            precondition(batchSize > 0 && readsPerWakeup > 0 && maxDatagramSize > 0 && maxQueuedToLoop > 0)
            self.gso = gso
            self.batchSize = batchSize
            self.readsPerWakeup = readsPerWakeup
            self.maxDatagramSize = maxDatagramSize
            self.maxQueuedToLoop = maxQueuedToLoop
        }
    }

    /// A datagram from the listening socket that was not relayed here.
    public struct ClientDatagram: Sendable {
        public var data: ByteBuffer
        public var from: SocketAddress
    }

    /// What a backend socket's route reports to the session logic (on the event loop).
    public enum BackendEvent: Sendable {
        /// Datagrams read from the backend before the route was established.
        case datagrams([ByteBuffer])
        /// A copy of a datagram relayed from the client to the backend that `Rules.notify` selected.
        case relayedFromClient(ByteBuffer)
        /// A copy of a datagram relayed from the backend to the client that `Rules.notify` selected.
        case relayedToClient(ByteBuffer)
        /// The backend socket reported an error (a connected UDP socket: ICMP port unreachable is ECONNREFUSED).
        case error(IOError)
    }

    public typealias ClientSink = @Sendable ([ClientDatagram]) -> Void
    public typealias BackendSink = @Sendable (BackendEvent) -> Void

    enum Command: Sendable {
        case add(UDPFastPathRoute, socket: CInt, client: SocketAddress, sink: BackendSink)
        case establish(UDPFastPathRoute, key: UInt32, counters: SessionCounters?)
        case remove(UDPFastPathRoute)
        case stop
    }

    struct State: Sendable {
        var commands: [Command] = []
        var clientSink: ClientSink?
        var started = false
        var stopped = false
    }

    public let eventLoop: any EventLoop
    let rules: Rules
    let settings: Settings
    let logger: Logger
    let state = Mutex(State())
    /// Datagrams handed to the event loop and not processed yet.
    let queuedToLoop = Atomic<Int>(0)
    private let lost = Atomic<UInt64>(0)
    /// Datagrams longer than `maxDatagramSize`, which the kernel cut: dropped, never relayed cut.
    private let truncated = Atomic<UInt64>(0)
    private let overflow = Atomic<UInt64>(0)
    private let nextRouteID = Atomic<Int>(0)
    #if os(Linux)
    let wakeSocket: CInt
    #endif
    private let pool = NIOThreadPool(numberOfThreads: 1)

    /// True where the fast path runs (Linux); elsewhere the modules keep NIO's datagram channels.
    public static var isSupported: Bool {
        #if os(Linux)
        true
        #else
        false
        #endif
    }

    public init(eventLoop: any EventLoop, rules: Rules, settings: Settings = Settings(), logger: Logger) throws {
        #if os(Linux)
        let fd = cudp_eventfd()
        guard fd >= 0 else { throw IOError(errnoCode: -fd, reason: "eventfd") }
        wakeSocket = fd
        #endif
        self.eventLoop = eventLoop
        self.rules = rules
        self.settings = settings
        self.logger = logger
    }

    deinit {
        #if os(Linux)
        closeSocket(wakeSocket)
        #endif
    }

    /// Where datagrams from the listening socket that are not relayed go (set before `start`).
    public func setClientSink(_ sink: @escaping ClientSink) {
        state.withLock { $0.clientSink = sink }
    }

    /// Starts the thread on `listenSocket` (a duplicate the fast path owns and closes).
    func start(listenSocket: CInt) throws {
        #if os(Linux)
        let sink: ClientSink = try state.withLock {
            guard !$0.started, !$0.stopped, let sink = $0.clientSink else { throw UDPFastPathError.notStartable }
            $0.started = true
            return sink
        }
        let loop = try UDPFastPathLoop(owner: self, listenSocket: listenSocket, clientSink: sink)
        pool.start()
        let box = UncheckedLoopHandoff(loop)
        pool.submit { _ in box.loop.run() }
        #else
        throw UDPFastPathError.notStartable
        #endif
    }

    /// Stops the thread and closes every descriptor it owns; returns once it has ended.
    public func stop() async {
        enum Action { case none, signal, finish }
        let action = state.withLock { s -> Action in
            defer { s.stopped = true }
            if s.stopped { return .none }
            guard s.started else { return .finish }
            s.commands.append(.stop)
            return .signal
        }
        guard action == .signal else { return }
        #if os(Linux)
        cudp_eventfd_signal(wakeSocket)
        #endif
        // The loop's work item returns on `.stop`; the pool's shutdown waits for its thread.
        try? await pool.shutdownGracefully()
    }

    /// Registers a connected backend socket (a duplicate the fast path owns and closes) of a
    /// session whose client is `client`. Until `establish`, its datagrams go to `sink`.
    public func addBackend(socket: CInt, client: SocketAddress, sink: @escaping BackendSink) -> UDPFastPathRoute {
        let route = UDPFastPathRoute(id: nextRouteID.wrappingAdd(1, ordering: .relaxed).newValue)
        if !send(.add(route, socket: socket, client: client, sink: sink)) { _ = closeSocket(socket) }
        return route
    }

    /// From now on the client's datagrams with `key` are relayed to the route's backend socket,
    /// and the backend's datagrams to the client. A key another route holds is left to it (the
    /// session logic relays that session's datagrams itself).
    public func establish(_ route: UDPFastPathRoute, key: UInt32, counters: SessionCounters?) {
        send(.establish(route, key: key, counters: counters))
    }

    /// Unregisters the route and closes the fast path's descriptor of its backend socket.
    public func remove(_ route: UDPFastPathRoute) {
        send(.remove(route))
    }

    /// Datagrams dropped because a socket could not take them, since the last call.
    public func takeLost() -> UInt64 { lost.exchange(0, ordering: .relaxed) + overflow.exchange(0, ordering: .relaxed) }

    func noteLost(_ n: Int) { if n > 0 { lost.wrappingAdd(UInt64(n), ordering: .relaxed) } }

    /// Datagrams dropped since the last call because they were longer than the receive slots.
    public func takeTruncated() -> UInt64 { truncated.exchange(0, ordering: .relaxed) }

    func noteTruncated() { truncated.wrappingAdd(1, ordering: .relaxed) }
    func noteOverflow(_ n: Int) { if n > 0 { overflow.wrappingAdd(UInt64(n), ordering: .relaxed) } }

    @discardableResult
    private func send(_ command: Command) -> Bool {
        let accepted = state.withLock { s -> Bool in
            guard !s.stopped else { return false }
            s.commands.append(command)
            return true
        }
        #if os(Linux)
        if accepted { cudp_eventfd_signal(wakeSocket) }
        #endif
        return accepted
    }

    func takeCommands() -> [Command] {
        state.withLock { s in
            defer { s.commands.removeAll() }
            return s.commands
        }
    }
}

/// One backend socket registered with a UDPFastPath. `lastSeen` is when the fast path last relayed
/// a datagram from the client (for idle expiry by the session logic).
public final class UDPFastPathRoute: Sendable {
    let id: Int
    private let seen = Atomic<UInt64>(0)

    init(id: Int) {
        self.id = id
    }

    public var lastSeen: NIODeadline { .uptimeNanoseconds(seen.load(ordering: .relaxed)) }
    func markSeen(_ uptimeNanoseconds: UInt64) { seen.store(uptimeNanoseconds, ordering: .relaxed) }
}

public enum UDPFastPathError: Error, CustomStringConvertible {
    case notStartable

    public var description: String { "the UDP fast path cannot start (unsupported, already started, or no client sink)" }
}

/// Closes a descriptor the fast path owns.
@discardableResult
func closeSocket(_ fd: CInt) -> CInt {
    #if os(Linux)
    return Glibc.close(fd)
    #else
    return Darwin.close(fd)
    #endif
}

#if os(Linux)
/// Hands the loop (made on the caller's thread, never touched there again) to the fast path's thread.
struct UncheckedLoopHandoff: @unchecked Sendable {
    let loop: UDPFastPathLoop
    init(_ loop: UDPFastPathLoop) { self.loop = loop }
}
#endif
