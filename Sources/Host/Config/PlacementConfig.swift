import ProxyCore

/// `placement:` how new streams are spread (PlacementPolicy): what `least-load` and the bounded
/// `hash` count, weights and capacities for origins that registered none, and thresholds on what
/// SRS origins report in their heartbeat `summaries`.
struct PlacementConfig: Decodable, Sendable {
    var leastLoadBy = PlacementPolicy.Measure.sessions
    var hashLoadFactor = 1.25
    var weight = 1
    var maxStreams = 0
    var maxSessions = 0
    var maxCPUPercent = 0.0
    var maxConnections = 0

    enum CodingKeys: String, CodingKey, CaseIterable {
        case leastLoadBy = "least_load_by"
        case hashLoadFactor = "hash_load_factor"
        case weight
        case maxStreams = "max_streams"
        case maxSessions = "max_sessions"
        case maxCPUPercent = "max_cpu_percent"
        case maxConnections = "max_connections"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PlacementConfig()
        let measure = try c.decode(String.self, forKey: .leastLoadBy, default: d.leastLoadBy.rawValue)
        guard let m = PlacementPolicy.Measure(rawValue: measure) else {
            throw c.invalid(.leastLoadBy, "unknown measure '\(measure)' (allowed: sessions, streams)")
        }
        leastLoadBy = m
        hashLoadFactor = try c.decode(Double.self, forKey: .hashLoadFactor, default: d.hashLoadFactor)
        guard hashLoadFactor == 0 || (1...100).contains(hashLoadFactor) else {
            throw c.invalid(.hashLoadFactor, "must be 0 (unbounded) or from 1 to 100")
        }
        weight = try c.decode(Int.self, forKey: .weight, default: d.weight, in: 1...1000, "must be from 1 to 1000")
        maxStreams = try c.decode(Int.self, forKey: .maxStreams, default: d.maxStreams, in: 0...10_000_000, "must be from 0 (unlimited) to 10000000")
        maxSessions = try c.decode(Int.self, forKey: .maxSessions, default: d.maxSessions, in: 0...100_000_000, "must be from 0 (unlimited) to 100000000")
        maxCPUPercent = try c.decode(Double.self, forKey: .maxCPUPercent, default: d.maxCPUPercent, in: 0...100_000, "must be from 0 (off) to 100000")
        maxConnections = try c.decode(Int.self, forKey: .maxConnections, default: d.maxConnections, in: 0...100_000_000, "must be from 0 (off) to 100000000")
    }

    var policy: PlacementPolicy {
        PlacementPolicy(
            measure: leastLoadBy, hashLoadFactor: hashLoadFactor, defaultWeight: weight, maxStreams: maxStreams, maxSessions: maxSessions,
            maxCPUPercent: maxCPUPercent, maxConnections: maxConnections)
    }
}
