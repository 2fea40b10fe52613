#if os(Linux)
import CUDPBatch
import Glibc
import NIOCore
import NIOPosix
import ProxyCore

/// The state and loop of a UDPFastPath's thread: created on the caller's thread, then used only by
/// the fast path's thread (never shared: no lock, no atomic on the per-datagram path).
final class UDPFastPathLoop {
    /// One registered backend socket.
    final class Slot {
        let index: Int
        let fd: CInt
        let route: UDPFastPathRoute
        let sink: UDPFastPath.BackendSink
        /// The client's address, compared with every datagram's source and used as destination.
        let client: UnsafeMutablePointer<sockaddr_storage>
        let sender: OpaquePointer
        var key: UInt32?
        var counters: SessionCounters?
        var fromClient = 0
        var toClient = 0
        var touched = false
        var failed = false
        var events: [UDPFastPath.BackendEvent] = []

        init(index: Int, fd: CInt, route: UDPFastPathRoute, sink: @escaping UDPFastPath.BackendSink, client: SocketAddress, sender: OpaquePointer) {
            self.index = index
            self.fd = fd
            self.route = route
            self.sink = sink
            self.sender = sender
            self.client = .allocate(capacity: 1)
            self.client.initialize(to: sockaddr_storage())
            let destination = UnsafeMutableRawPointer(self.client)
            client.withSockAddr { address, length in
                destination.copyMemory(from: address, byteCount: min(length, MemoryLayout<sockaddr_storage>.size))
            }
        }

        deinit {
            client.deallocate()
            cudp_sender_destroy(sender)
        }
    }

    private static let wakeToken: UInt64 = 0
    private static let listenToken: UInt64 = 1
    private static let firstSlotToken: UInt64 = 2

    private let owner: UDPFastPath
    private let rules: UDPFastPath.Rules
    private let clientSink: UDPFastPath.ClientSink
    private let epoll: CInt
    private let listenSocket: CInt
    private let batch: OpaquePointer
    private let batchSize: Int
    private let readsPerWakeup: Int
    /// Backend-to-client datagrams, sent on the listening socket.
    private let toClients: OpaquePointer
    private var gso: Bool
    private var slots: [Slot?] = []
    private var freeSlots: [Int] = []
    private var slotByRoute: [Int: Int] = [:]
    private var slotByKey: [UInt32: Slot] = [:]
    /// The last key looked up and its slot (one flow's datagrams arrive in runs).
    private var lastKey: UInt32 = 0
    private var lastSlot: Slot?
    private var touched: [Slot] = []
    /// Slots with datagrams queued from the current read batch.
    private var flushing: [Slot] = []
    private var toLoop: [UDPFastPath.ClientDatagram] = []
    private let allocator = ByteBufferAllocator()

    init(owner: UDPFastPath, listenSocket: CInt, clientSink: @escaping UDPFastPath.ClientSink) throws {
        self.owner = owner
        self.rules = owner.rules
        self.clientSink = clientSink
        self.listenSocket = listenSocket
        self.gso = owner.settings.gso && System.supportsUDPSegmentationOffload
        batchSize = owner.settings.batchSize
        readsPerWakeup = owner.settings.readsPerWakeup
        let e = cudp_epoll_create()
        guard e >= 0 else { throw IOError(errnoCode: -e, reason: "epoll_create1") }
        epoll = e
        guard let b = cudp_recv_batch_create(UInt32(batchSize), UInt32(owner.settings.maxDatagramSize)),
            let s = cudp_sender_create(UInt32(batchSize))
        else {
            closeSocket(e)
            throw IOError(errnoCode: ENOMEM, reason: "UDP fast path buffers")
        }
        batch = b
        toClients = s
        for (fd, token) in [(owner.wakeSocket, Self.wakeToken), (listenSocket, Self.listenToken)] {
            let r = cudp_epoll_add(epoll, fd, token)
            guard r == 0 else {
                closeSocket(e)
                throw IOError(errnoCode: -r, reason: "epoll_ctl")
            }
        }
        touched.reserveCapacity(64)
        toLoop.reserveCapacity(64)
    }

    deinit {
        cudp_recv_batch_destroy(batch)
        cudp_sender_destroy(toClients)
    }

    /// Serves until the `.stop` command, then closes every descriptor it owns.
    func run() {
        let tokens = UnsafeMutablePointer<UInt64>.allocate(capacity: 64)
        let flags = UnsafeMutablePointer<UInt32>.allocate(capacity: 64)
        defer {
            tokens.deallocate()
            flags.deallocate()
        }
        var running = true
        while running {
            let n = cudp_epoll_wait(epoll, tokens, flags, 64, -1)
            if n < 0 {
                if -n == EINTR { continue }
                owner.logger.error("UDP fast path: epoll_wait failed", metadata: ["errno": "\(-n)"])
                break
            }
            // Commands first: a route established before a datagram was sent relays that datagram.
            for i in 0..<Int(n) where tokens[i] == Self.wakeToken {
                cudp_eventfd_drain(owner.wakeSocket)
                running = applyCommands()
            }
            for i in 0..<Int(n) where running {
                switch tokens[i] {
                case Self.wakeToken:
                    break
                case Self.listenToken:
                    readClients()
                default:
                    let index = Int(tokens[i] - Self.firstSlotToken)
                    if index < slots.count, let slot = slots[index] { readBackend(slot, error: flags[i] & 2 != 0) }
                }
            }
            endOfWakeup()
        }
        for case let slot? in slots { closeSocket(slot.fd) }
        slots.removeAll()
        slotByKey.removeAll()
        lastSlot = nil
        closeSocket(listenSocket)
        closeSocket(epoll)
    }

    // MARK: Commands from the event loop

    private func applyCommands() -> Bool {
        for command in owner.takeCommands() {
            switch command {
            case .add(let route, let fd, let client, let sink):
                guard let sender = cudp_sender_create(UInt32(batchSize)) else {
                    closeSocket(fd)
                    continue
                }
                let index = freeSlots.popLast() ?? slots.count
                if index == slots.count { slots.append(nil) }
                let slot = Slot(index: index, fd: fd, route: route, sink: sink, client: client, sender: sender)
                let r = cudp_epoll_add(epoll, fd, Self.firstSlotToken + UInt64(index))
                guard r == 0 else {
                    closeSocket(fd)
                    freeSlots.append(index)
                    slot.events.append(.error(IOError(errnoCode: -r, reason: "epoll_ctl")))
                    touch(slot)
                    continue
                }
                slots[index] = slot
                slotByRoute[route.id] = index
            case .establish(let route, let key, let counters):
                guard let index = slotByRoute[route.id], let slot = slots[index] else { continue }
                slot.counters = counters
                if slotByKey[key] == nil {
                    slot.key = key
                    slotByKey[key] = slot
                }
            case .remove(let route):
                guard let index = slotByRoute.removeValue(forKey: route.id), let slot = slots[index] else { continue }
                if let key = slot.key, slotByKey[key] === slot { slotByKey[key] = nil }
                if lastSlot === slot { lastSlot = nil }
                slot.key = nil
                _ = cudp_epoll_remove(epoll, slot.fd)
                closeSocket(slot.fd)
                slots[index] = nil
                freeSlots.append(index)
                slot.events.removeAll()
                slot.counters?.addFromClient(slot.fromClient)
                slot.counters?.addToClient(slot.toClient)
                slot.fromClient = 0
                slot.toClient = 0
                slot.failed = true
            case .stop:
                return false
            }
        }
        return true
    }

    // MARK: Datagrams

    private func touch(_ slot: Slot) {
        if !slot.touched {
            slot.touched = true
            touched.append(slot)
        }
    }

    private func lookup(_ key: UInt32) -> Slot? {
        if let s = lastSlot, lastKey == key { return s }
        guard let s = slotByKey[key] else { return nil }
        lastKey = key
        lastSlot = s
        return s
    }

    /// The listening socket: relays established routes' datagrams to their backends, queues the rest for the event loop.
    private func readClients() {
        for _ in 0..<readsPerWakeup {
            let n = Int(cudp_recv(listenSocket, batch))
            if n < 0 {
                // EAGAIN: drained. Other errors on an unconnected socket (ICMP from a client that
                // went away) concern one earlier send; the socket goes on.
                if -n == EAGAIN || -n == EWOULDBLOCK { break }
                continue
            }
            for i in 0..<n {
                let i32 = UInt32(i)
                // A datagram longer than the slot arrives cut (MSG_TRUNC): never relay a part of one.
                if cudp_recv_truncated(batch, i32) != 0 {
                    owner.noteTruncated()
                    continue
                }
                let data = cudp_recv_data(batch, i32)!
                let length = Int(cudp_recv_length(batch, i32))
                let bytes = UnsafeRawBufferPointer(start: data, count: length)
                let source = cudp_recv_source(batch, i32)!
                if let key = rules.clientKey(bytes), let slot = lookup(key), cudp_address_equal(source, slot.client) != 0 {
                    let wasEmpty = cudp_sender_count(slot.sender) == 0
                    if cudp_sender_add(slot.sender, data, UInt32(length), nil, gso ? 1 : 0) != 0 {
                        flush(slot)  // full: send what it holds (the slot is already in `flushing`)
                        _ = cudp_sender_add(slot.sender, data, UInt32(length), nil, gso ? 1 : 0)
                    }
                    if wasEmpty { flushing.append(slot) }
                    slot.fromClient &+= length
                    touch(slot)
                    if rules.notify(bytes) { slot.events.append(.relayedFromClient(copy(bytes))) }
                } else {
                    queueForLoop(bytes, from: source)
                }
            }
            // The queued datagrams point into the batch: send them before the next read.
            for slot in flushing where cudp_sender_count(slot.sender) > 0 { flush(slot) }
            flushing.removeAll(keepingCapacity: true)
            if n < batchSize { break }
        }
    }

    /// A backend socket: before its route is established everything goes to the session logic;
    /// after, datagrams go to the client through the listening socket.
    private func readBackend(_ slot: Slot, error: Bool) {
        for _ in 0..<readsPerWakeup {
            let n = Int(cudp_recv(slot.fd, batch))
            if n < 0 {
                if -n == EAGAIN || -n == EWOULDBLOCK { break }
                report(slot, errno: CInt(-n))
                break
            }
            if slot.key == nil {
                if owner.queuedToLoop.load(ordering: .relaxed) + n <= owner.settings.maxQueuedToLoop {
                    var datagrams: [ByteBuffer] = []
                    datagrams.reserveCapacity(n)
                    for i in 0..<n {
                        let i32 = UInt32(i)
                        if cudp_recv_truncated(batch, i32) != 0 {
                            owner.noteTruncated()
                            continue
                        }
                        datagrams.append(copy(UnsafeRawBufferPointer(start: cudp_recv_data(batch, i32), count: Int(cudp_recv_length(batch, i32)))))
                    }
                    slot.events.append(.datagrams(datagrams))
                    touch(slot)
                } else {
                    owner.noteOverflow(n)
                }
            } else {
                for i in 0..<n {
                    let i32 = UInt32(i)
                    if cudp_recv_truncated(batch, i32) != 0 {
                        owner.noteTruncated()
                        continue
                    }
                    let data = cudp_recv_data(batch, i32)!
                    let length = Int(cudp_recv_length(batch, i32))
                    if cudp_sender_add(toClients, data, UInt32(length), slot.client, gso ? 1 : 0) != 0 {
                        flushToClients()
                        _ = cudp_sender_add(toClients, data, UInt32(length), slot.client, gso ? 1 : 0)
                    }
                    slot.toClient &+= length
                    let bytes = UnsafeRawBufferPointer(start: data, count: length)
                    if rules.notify(bytes) { slot.events.append(.relayedToClient(copy(bytes))) }
                }
                touch(slot)
                flushToClients()
            }
            if n < batchSize { break }
        }
        if error {
            let e = cudp_socket_error(slot.fd)
            if e != 0 { report(slot, errno: e) }
        }
    }

    private func report(_ slot: Slot, errno: CInt) {
        guard !slot.failed else { return }
        slot.failed = true
        slot.events.append(.error(IOError(errnoCode: errno, reason: "backend socket")))
        touch(slot)
    }

    private func flush(_ slot: Slot) {
        var error: CInt = 0
        var gsoFailed: CInt = 0
        let lost = cudp_sender_flush(slot.fd, slot.sender, &error, &gsoFailed)
        owner.noteLost(Int(lost))
        if gsoFailed != 0 { gsoUnavailable() }
        if error != 0 && error != EIO { report(slot, errno: error) }
    }

    private func flushToClients() {
        guard cudp_sender_count(toClients) > 0 else { return }
        var error: CInt = 0
        var gsoFailed: CInt = 0
        let lost = cudp_sender_flush(listenSocket, toClients, &error, &gsoFailed)
        owner.noteLost(Int(lost))
        if gsoFailed != 0 { gsoUnavailable() }
    }

    private func gsoUnavailable() {
        guard gso else { return }
        gso = false
        owner.logger.warning("UDP GSO failed with EIO (the route's device cannot segment); sending datagram by datagram")
    }

    private func copy(_ bytes: UnsafeRawBufferPointer) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return buffer
    }

    private func queueForLoop(_ bytes: UnsafeRawBufferPointer, from source: UnsafePointer<sockaddr_storage>) {
        guard owner.queuedToLoop.load(ordering: .relaxed) + toLoop.count < owner.settings.maxQueuedToLoop,
            let address = Self.socketAddress(source)
        else {
            owner.noteOverflow(1)
            return
        }
        toLoop.append(UDPFastPath.ClientDatagram(data: copy(bytes), from: address))
    }

    static func socketAddress(_ source: UnsafePointer<sockaddr_storage>) -> SocketAddress? {
        let raw = UnsafeRawPointer(source)
        switch Int32(source.pointee.ss_family) {
        case AF_INET: return SocketAddress(raw.load(as: sockaddr_in.self))
        case AF_INET6: return SocketAddress(raw.load(as: sockaddr_in6.self))
        default: return nil
        }
    }

    /// Once per wakeup: counters, last-seen times, and what the event loop must handle.
    private func endOfWakeup() {
        if !touched.isEmpty {
            var now: UInt64 = 0
            for slot in touched {
                slot.touched = false
                if slot.fromClient != 0 {
                    if now == 0 { now = NIODeadline.now().uptimeNanoseconds }
                    slot.route.markSeen(now)
                    slot.counters?.addFromClient(slot.fromClient)
                    slot.fromClient = 0
                }
                if slot.toClient != 0 {
                    slot.counters?.addToClient(slot.toClient)
                    slot.toClient = 0
                }
                if !slot.events.isEmpty {
                    let events = slot.events
                    slot.events.removeAll()
                    let sink = slot.sink
                    let count = events.reduce(0) { n, event in
                        if case .datagrams(let datagrams) = event { return n + datagrams.count }
                        return n + 1
                    }
                    let owner = self.owner
                    owner.queuedToLoop.wrappingAdd(count, ordering: .relaxed)
                    owner.eventLoop.execute {
                        for event in events { sink(event) }
                        owner.queuedToLoop.wrappingSubtract(count, ordering: .relaxed)
                    }
                }
            }
            touched.removeAll(keepingCapacity: true)
        }
        if !toLoop.isEmpty {
            let datagrams = toLoop
            toLoop.removeAll(keepingCapacity: true)
            let sink = clientSink
            let count = datagrams.count
            let owner = self.owner
            owner.queuedToLoop.wrappingAdd(count, ordering: .relaxed)
            owner.eventLoop.execute {
                sink(datagrams)
                owner.queuedToLoop.wrappingSubtract(count, ordering: .relaxed)
            }
        }
    }
}
#endif
