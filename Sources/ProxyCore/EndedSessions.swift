/// What the sessions that ended on one router carried, by protocol and role: added once per
/// session as its lease is removed, so `GET /metrics` can report cumulative byte counters
/// (ended sessions plus the open ones) without touching the relay path.
public struct EndedSessions: Sendable, Equatable {
    public struct Key: Sendable, Hashable {
        public var kind: EndpointKind
        public var role: SessionRole
        public init(kind: EndpointKind, role: SessionRole) {
            self.kind = kind
            self.role = role
        }
    }
    public var sessions: UInt64 = 0
    public var bytesFromClients: UInt64 = 0
    public var bytesToClients: UInt64 = 0

    public init() {}

    mutating func add(_ counters: SessionCounters) {
        sessions &+= 1
        bytesFromClients &+= counters.bytesFromClient
        bytesToClients &+= counters.bytesToClient
    }
}
