import ProxyCore

/// `modules.http-flv.fanout` in proxy.yaml: HTTP-FLV players of one stream share one upstream
/// request per proxy. `fanout: true` (or `false`) is short for `fanout: {enabled: ...}`.
public struct FanoutConfig: Decodable, Sendable, Equatable {
    /// Whether `.flv` players share upstreams. Default false.
    public var enabled = false
    /// Largest current GOP kept for joining players, in bytes (past it the cache is dropped
    /// until the next keyframe and joiners wait for it). Default 16 MiB.
    public var gopCacheBytes = 16 * 1024 * 1024
    /// Longest current GOP kept, by FLV timestamps. Default 10 s.
    public var gopCacheDuration = ConfigDuration.seconds(10)
    /// Bytes one player may have queued (not yet taken by its socket) before it counts as slow.
    /// Default 4 MiB.
    public var playerQueueBytes = 4 * 1024 * 1024
    /// What happens to a slow player: `skip` (it misses tags until it drained and the next
    /// keyframe comes) or `disconnect`. Default skip.
    public var slowPlayer = SlowPlayerPolicy.skip
    /// How long an upstream stays open after its last player left (a player coming back within
    /// it starts from the cached GOP). Default 5 s.
    public var linger = ConfigDuration.seconds(5)
    /// Largest FLV tag accepted from an upstream (the format's own limit is 16 MiB). Default 8 MiB.
    public var maxTagBytes = 8 * 1024 * 1024

    public enum SlowPlayerPolicy: String, Decodable, Sendable, CaseIterable {
        case skip, disconnect
    }

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled
        case gopCacheBytes = "gop_cache_bytes"
        case gopCacheDuration = "gop_cache_duration"
        case playerQueueBytes = "player_queue_bytes"
        case slowPlayer = "slow_player"
        case linger
        case maxTagBytes = "max_tag_bytes"
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        if let single = try? decoder.singleValueContainer(), let on = try? single.decode(Bool.self) {
            enabled = on
            return
        }
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = FanoutConfig()
        enabled = try c.decode(Bool.self, forKey: .enabled, default: d.enabled)
        gopCacheBytes = try c.decode(Int.self, forKey: .gopCacheBytes, default: d.gopCacheBytes, in: 0...(1 << 30), "must be from 0 to 1073741824 bytes")
        gopCacheDuration = try c.decode(ConfigDuration.self, forKey: .gopCacheDuration, default: d.gopCacheDuration)
        playerQueueBytes = try c.decode(
            Int.self, forKey: .playerQueueBytes, default: d.playerQueueBytes, in: 65_536...(1 << 30), "must be from 65536 to 1073741824 bytes")
        slowPlayer = try c.decode(SlowPlayerPolicy.self, forKey: .slowPlayer, default: d.slowPlayer)
        linger = try c.decode(ConfigDuration.self, forKey: .linger, default: d.linger)
        maxTagBytes = try c.decode(Int.self, forKey: .maxTagBytes, default: d.maxTagBytes, in: 65_536...16_777_215, "must be from 65536 to 16777215 bytes")
    }
}
