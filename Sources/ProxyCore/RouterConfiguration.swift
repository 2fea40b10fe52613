/// Timing of routes. Defaults suit production; tests shorten them.
public struct RouterConfiguration: Sendable {
    /// How long a route outlives its last session, on any proxy (so a reconnecting publisher
    /// returns to the same backend, and a crashed proxy's routes end by themselves).
    public var routeLinger: Duration
    /// The expiry set while sessions are live: a route lives this long past its last refresh.
    public var routeTTL: Duration
    /// How often routes with sessions are refreshed.
    public var refreshInterval: Duration
    /// How long a backend that refused a connection is left out of new picks.
    public var suspectTime: Duration
    /// How many times one session is routed again after its backend could not be reached
    /// (`StreamSession.redispatch`), each time to a backend it has not tried.
    public var redispatchAttempts: Int
    /// How long a player routed again after its backend could not be reached waits for its
    /// stream to appear on another backend (its publisher reconnecting) before it is told the
    /// stream is not found.
    public var redispatchWait: Duration
    /// Weights, capacities and what `least-load` and `hash` count.
    public var placement: PlacementPolicy
    /// This proxy's id in the shared session counts (its own are counted from its leases, not
    /// read back); empty: every proxy's published counts are read.
    public var proxyID: String
    /// How long the alive backends read from the registry serve new sessions (Router+Candidates).
    public var candidatesTTL: Duration

    public init(
        routeLinger: Duration = .seconds(60), routeTTL: Duration? = nil, refreshInterval: Duration? = nil,
        suspectTime: Duration = .seconds(10), redispatchAttempts: Int = 2, redispatchWait: Duration = .seconds(2), placement: PlacementPolicy = .init(), proxyID: String = "",
        candidatesTTL: Duration = .seconds(1)
    ) {
        self.candidatesTTL = candidatesTTL
        self.placement = placement
        self.proxyID = proxyID
        self.redispatchAttempts = redispatchAttempts
        self.redispatchWait = redispatchWait
        self.routeLinger = routeLinger
        let ttl = routeTTL ?? max(routeLinger, .seconds(1))
        self.routeTTL = ttl
        self.refreshInterval = refreshInterval ?? ttl / 3
        self.suspectTime = suspectTime
    }

    /// How often the router's housekeeping runs: often enough for linger and refresh to be on time.
    var tickInterval: Duration {
        min(max(min(routeLinger / 4, refreshInterval / 2), .milliseconds(10)), .seconds(1))
    }
}
