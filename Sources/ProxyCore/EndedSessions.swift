/// What the sessions that ended on one router carried, by module and role: added once per
/// session as its lease is removed, so `GET /metrics` can report cumulative byte counters
/// (ended sessions plus the open ones) without touching the relay path.
public struct EndedSessions: Sendable, Equatable {
    public struct Key: Sendable, Hashable {
        public var module: String
        public var role: SessionRole
        public init(module: String, role: SessionRole) {
            self.module = module
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
