import ProxyCore

/// `modules.http-flv.hls_cache` in proxy.yaml: HLS objects (playlists, segments) fetched once
/// per proxy for all its players. `hls_cache: true` is short for `{enabled: true}`.
public struct HLSCacheConfig: Decodable, Sendable, Equatable {
    /// Whether HLS GETs go through the cache. Default false.
    public var enabled = false
    /// Bytes of objects kept in all (least recently used go first). Default 256 MiB.
    public var bytes = 256 * 1024 * 1024
    /// Largest object kept; a larger one is relayed per player. Default 32 MiB.
    public var maxObjectBytes = 32 * 1024 * 1024
    /// A playlist is reused for this fraction of its `EXT-X-TARGETDURATION` (at least 100 ms,
    /// at most 10 s; 1 s for a playlist without one). Default 0.5.
    public var playlistFraction = 0.5
    /// How long a segment (or key, map, any other object) is kept at most. Default 60 s.
    public var segmentTTL = ConfigDuration.seconds(60)

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, bytes
        case maxObjectBytes = "max_object_bytes"
        case playlistFraction = "playlist_fraction"
        case segmentTTL = "segment_ttl"
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        if let single = try? decoder.singleValueContainer(), let on = try? single.decode(Bool.self) {
            enabled = on
            return
        }
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = HLSCacheConfig()
        enabled = try c.decode(Bool.self, forKey: .enabled, default: d.enabled)
        bytes = try c.decode(Int.self, forKey: .bytes, default: d.bytes, in: 1_048_576...(1 << 40), "must be from 1048576 bytes")
        maxObjectBytes = try c.decode(Int.self, forKey: .maxObjectBytes, default: d.maxObjectBytes, in: 1024...(1 << 32), "must be from 1024 to 4294967296 bytes")
        guard maxObjectBytes <= bytes else { throw c.invalid(.maxObjectBytes, "must not be larger than bytes (\(bytes))") }
        playlistFraction = try c.decode(Double.self, forKey: .playlistFraction, default: d.playlistFraction, in: 0.01...1, "must be from 0.01 to 1")
        segmentTTL = try c.decodePositive(.segmentTTL, default: d.segmentTTL)
    }
}
