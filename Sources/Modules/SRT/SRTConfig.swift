import ProxyCore

/// `modules.srt` in proxy.yaml.
public struct SRTConfig: Decodable, Sendable {
    /// UDP endpoint for SRT callers. Default 20080 (env PROXY_SRT_SERVER).
    public var listen = ListenEndpoint(port: 20080)
    /// A session with no packet from its client for this long is torn down. Default 10 s.
    public var idleTimeout = ConfigDuration.seconds(10)
    /// Time for routing and the whole handshake with the backend (induction and conclusion). Default 3 s.
    public var backendTimeout = ConfigDuration.seconds(3)
    /// Most sessions at once (connecting and relaying); a conclusion over the cap is rejected. Default 10000.
    public var maxSessions = 10_000
    /// UDP GSO (UDP_SEGMENT) towards backends: a read batch's consecutive same-size datagrams of a
    /// session are copied into one buffer and sent as one segmented send (where the kernel has it;
    /// else ignored). Default true.
    public var gso = true
    /// The batched data path (Linux): a dedicated thread reads the SRT socket and the sessions'
    /// backend sockets with recvmmsg and relays established sessions' packets with sendmmsg,
    /// outside NIO's datagram channels; handshakes and anything unknown go to the session logic on
    /// the event loop. false: every datagram goes through NIO (one thread fewer). Default true.
    public var fastPath = true
    /// New sessions (conclusions) one client address may start per second, and in a burst;
    /// past them a conclusion is rejected as an overload. Defaults 10 and 20.
    public var sessionRate = 10.0
    public var sessionBurst = 20.0

    public init(listen: ListenEndpoint = ListenEndpoint(port: 20080)) {
        self.listen = listen
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
        case idleTimeout = "idle_timeout"
        case backendTimeout = "backend_timeout"
        case maxSessions = "max_sessions"
        case gso
        case fastPath = "fast_path"
        case sessionRate = "session_rate"
        case sessionBurst = "session_burst"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SRTConfig()
        listen = try c.decodeListen(.listen, default: d.listen, over: .udp, "SRT")
        idleTimeout = try c.decode(ConfigDuration.self, forKey: .idleTimeout, default: d.idleTimeout)
        guard idleTimeout.duration >= .seconds(1) else { throw c.invalid(.idleTimeout, "must be at least 1s") }
        backendTimeout = try c.decodePositive(.backendTimeout, default: d.backendTimeout)
        maxSessions = try c.decode(Int.self, forKey: .maxSessions, default: d.maxSessions)
        guard (1...1_000_000).contains(maxSessions) else { throw c.invalid(.maxSessions, "must be from 1 to 1000000") }
        gso = try c.decode(Bool.self, forKey: .gso, default: d.gso)
        fastPath = try c.decode(Bool.self, forKey: .fastPath, default: d.fastPath)
        sessionRate = try c.decode(Double.self, forKey: .sessionRate, default: d.sessionRate, in: 0.001...1_000_000, "must be from 0.001 to 1000000 (per second)")
        sessionBurst = try c.decode(Double.self, forKey: .sessionBurst, default: d.sessionBurst, in: 1...1_000_000, "must be from 1 to 1000000")
    }
}
