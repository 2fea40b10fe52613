import NIOCore

/// The shared UDP session table (DESIGN.md section 6): sessions found by a protocol id (SRT socket
/// id, ICE ufrag) or by the client's address, expired when idle, capped in number.
///
/// Confined to the event loop that owns the UDP socket, so it takes no lock. After a session
/// exists, a lookup is one or two dictionary hits and allocates nothing.
public struct UDPSessionTable<ID: Hashable, Session> {
    public struct Entry {
        public var id: ID
        public var address: SocketAddress
        public var session: Session
        public var lastSeen: NIODeadline
    }

    public let capacity: Int
    public let idleTimeout: TimeAmount
    private var entries: [ID: Entry] = [:]
    private var idsByAddress: [SocketAddress: ID] = [:]

    public init(capacity: Int, idleTimeout: TimeAmount) {
        precondition(capacity > 0, "capacity must be positive")
        self.capacity = capacity
        self.idleTimeout = idleTimeout
    }

    public var count: Int { entries.count }
    public var isFull: Bool { entries.count >= capacity }
    /// The ids of every session (for closing them all at shutdown).
    public var ids: [ID] { Array(entries.keys) }

    /// Adds a session; throws when the table is full or the id is taken. The address is bound to
    /// the new session; an older session on that address is removed and returned, for the caller
    /// to tear down.
    @discardableResult
    public mutating func insert(id: ID, address: SocketAddress, session: Session, now: NIODeadline) throws(UDPSessionTableError) -> Entry? {
        guard entries[id] == nil else { throw .duplicateID }
        let displaced = idsByAddress[address].flatMap { entries.removeValue(forKey: $0) }
        guard entries.count < capacity else {
            if let displaced { entries[displaced.id] = displaced }
            throw .full(capacity)
        }
        entries[id] = Entry(id: id, address: address, session: session, lastSeen: now)
        idsByAddress[address] = id
        return displaced
    }

    /// The session with `id`, marking it seen.
    public mutating func session(forID id: ID, now: NIODeadline) -> Session? {
        guard entries[id] != nil else { return nil }
        entries[id]!.lastSeen = now
        return entries[id]!.session
    }

    /// The session bound to `address`, marking it seen.
    public mutating func session(forAddress address: SocketAddress, now: NIODeadline) -> Session? {
        guard let id = idsByAddress[address] else { return nil }
        return session(forID: id, now: now)
    }

    public func entry(forID id: ID) -> Entry? { entries[id] }

    public func id(forAddress address: SocketAddress) -> ID? { idsByAddress[address] }

    public enum RebindOutcome {
        case unknownID
        /// Moved; another session that held the new address was removed and is returned.
        case moved(displaced: Entry?)
    }

    /// Moves a session to a new client address (NAT rebinding, ICE restart).
    @discardableResult
    public mutating func rebind(id: ID, to address: SocketAddress) -> RebindOutcome {
        guard let old = entries[id]?.address else { return .unknownID }
        if old == address { return .moved(displaced: nil) }
        idsByAddress[old] = nil
        var displaced: Entry?
        if let other = idsByAddress[address], other != id { displaced = entries.removeValue(forKey: other) }
        idsByAddress[address] = id
        entries[id]!.address = address
        return .moved(displaced: displaced)
    }

    /// Replaces the stored session value (for session state that is a value type).
    public mutating func update(id: ID, _ body: (inout Session) -> Void) {
        guard entries[id] != nil else { return }
        body(&entries[id]!.session)
    }

    @discardableResult
    public mutating func remove(id: ID) -> Session? {
        guard let entry = entries.removeValue(forKey: id) else { return nil }
        if idsByAddress[entry.address] == id { idsByAddress[entry.address] = nil }
        return entry.session
    }

    /// Removes and returns every session (shutdown).
    public mutating func removeAll() -> [Entry] {
        let all = Array(entries.values)
        entries = [:]
        idsByAddress = [:]
        return all
    }

    /// Removes and returns the sessions idle for longer than `idleTimeout`.
    public mutating func expire(now: NIODeadline) -> [Entry] {
        let limit = now - idleTimeout
        let stale = entries.values.filter { $0.lastSeen < limit }
        for entry in stale { remove(id: entry.id) }
        return stale
    }
}

public enum UDPSessionTableError: Error, Equatable, CustomStringConvertible {
    case full(Int)
    case duplicateID

    public var description: String {
        switch self {
        case .full(let n): "session table full (\(n) sessions)"
        case .duplicateID: "a session with this id exists"
        }
    }
}
