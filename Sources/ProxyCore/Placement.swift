/// What placement knows of a backend besides its endpoints: what it registered (a weight, a
/// capacity) and what its SRS `summaries` report (CPU, connections), read once per heartbeat.
public struct BackendPlacement: Sendable, Hashable, Codable {
    /// Relative share of new streams (1 when absent).
    public var weight: Int?
    /// Most streams / sessions it takes (new streams stop there); absent: the yaml defaults.
    public var maxStreams: Int?
    public var maxSessions: Int?
    /// From `summaries.data.system`: CPU use in percent (SRS reports a fraction) and connections.
    public var cpuPercent: Double?
    public var connections: Int?

    public init(weight: Int? = nil, maxStreams: Int? = nil, maxSessions: Int? = nil, cpuPercent: Double? = nil, connections: Int? = nil) {
        self.weight = weight
        self.maxStreams = maxStreams
        self.maxSessions = maxSessions
        self.cpuPercent = cpuPercent
        self.connections = connections
    }

    enum CodingKeys: String, CodingKey {
        case weight, maxStreams = "max_streams", maxSessions = "max_sessions", cpuPercent = "cpu_percent", connections
    }

    public var isEmpty: Bool { self == BackendPlacement() }
}

/// A backend's load, over every proxy sharing the registry: streams with sessions on it, and
/// those sessions.
public struct BackendLoad: Sendable, Hashable {
    public var streams: Int
    public var sessions: Int
    public init(streams: Int = 0, sessions: Int = 0) {
        self.streams = streams
        self.sessions = sessions
    }
    public static let zero = BackendLoad()
}

/// How placement weighs and limits backends (`placement:` in proxy.yaml).
public struct PlacementPolicy: Sendable, Equatable {
    public enum Measure: String, Sendable, CaseIterable {
        case sessions, streams
    }
    /// What `least-load` counts (the bounded `hash` counts streams).
    public var measure: Measure
    /// `hash`: no backend gets more than factor x its weighted share of the streams (0: unbounded).
    public var hashLoadFactor: Double
    /// The weight of a backend that registered none.
    public var defaultWeight: Int
    /// Capacity of a backend that registered none (0: unlimited).
    public var maxStreams: Int
    public var maxSessions: Int
    /// Thresholds on what SRS summaries report (0: off).
    public var maxCPUPercent: Double
    public var maxConnections: Int

    public init(
        measure: Measure = .sessions, hashLoadFactor: Double = 1.25, defaultWeight: Int = 1, maxStreams: Int = 0, maxSessions: Int = 0,
        maxCPUPercent: Double = 0, maxConnections: Int = 0
    ) {
        self.measure = measure
        self.hashLoadFactor = hashLoadFactor
        self.defaultWeight = defaultWeight
        self.maxStreams = maxStreams
        self.maxSessions = maxSessions
        self.maxCPUPercent = maxCPUPercent
        self.maxConnections = maxConnections
    }

    public func weight(of backend: Backend) -> Int { max(1, backend.placement?.weight ?? defaultWeight) }

    /// Whether any default capacity or threshold is set (else only registered ones apply).
    public var hasLimits: Bool { maxStreams > 0 || maxSessions > 0 || maxCPUPercent > 0 || maxConnections > 0 }

    /// The count `least-load` and `hash` compare.
    public func value(_ load: BackendLoad) -> Int { measure == .sessions ? load.sessions : load.streams }

    /// Why `backend` takes no new stream at `load`, or nil when it may.
    public func fullness(of backend: Backend, at load: BackendLoad) -> String? {
        let p = backend.placement
        let streams = p?.maxStreams ?? maxStreams, sessions = p?.maxSessions ?? maxSessions
        if streams > 0, load.streams >= streams { return "\(load.streams) streams, capacity \(streams)" }
        if sessions > 0, load.sessions >= sessions { return "\(load.sessions) sessions, capacity \(sessions)" }
        if maxCPUPercent > 0, let cpu = p?.cpuPercent, cpu >= maxCPUPercent { return "CPU \(cpu)% reported, limit \(maxCPUPercent)%" }
        if maxConnections > 0, let n = p?.connections, n >= maxConnections { return "\(n) connections reported, limit \(maxConnections)" }
        return nil
    }
}

/// What a strategy may look at besides the candidates.
public struct PlacementContext: Sendable {
    public var policy: PlacementPolicy
    public var loads: [Backend.ID: BackendLoad]
    /// The Router's promise that the candidates are sorted by id (strategies then skip the check).
    public var candidatesInIDOrder = false
    /// Every candidate weighs 1 (none registered a weight, `placement.weight` is 1).
    public var uniformWeights = false
    public init(policy: PlacementPolicy = .init(), loads: [Backend.ID: BackendLoad] = [:]) {
        self.policy = policy
        self.loads = loads
    }
    public func load(_ backend: Backend) -> BackendLoad { loads[backend.id] ?? .zero }
}
