import ProxyCore

/// Where the shared Redis is and how to talk to it (`registry.redis` in proxy.yaml).
public struct RedisConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var password: String
    public var database: Int
    /// Prefix of every key, so two deployments can share one Redis.
    public var keyPrefix: String
    public var connectTimeout: Duration
    public var commandTimeout: Duration
    /// Connections in the pool (each runs its commands in order on its own queue).
    public var connections: Int
    /// Commands waiting for a connection at once, in all; past it a command fails at once
    /// (`unavailable`, "queue full") instead of adding to a backlog a slow Redis never clears.
    public var maxQueued: Int
    /// Redis Sentinel: when not empty, the primary is the one these sentinels name for
    /// `masterName` (asked in order on every connect); `host` and `port` are not used then.
    public var sentinels: [Endpoint]
    public var masterName: String

    /// A host and port (a sentinel, or the primary a sentinel named).
    public typealias Endpoint = BackendAddress

    public init(
        host: String = "127.0.0.1", port: Int = 6379, password: String = "", database: Int = 0, keyPrefix: String = "streamproxy",
        connectTimeout: Duration = .seconds(1), commandTimeout: Duration = .seconds(1), connections: Int = 4, maxQueued: Int = 1024,
        sentinels: [Endpoint] = [], masterName: String = ""
    ) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.maxQueued = max(1, maxQueued)
        self.host = host
        self.port = port
        self.password = password
        self.database = database
        self.keyPrefix = keyPrefix
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.connections = max(1, connections)
    }
}
