import NIOCore
import NIOHTTP1
import ProxyCore
import ProxyNet
import Synchronization

/// HLS objects by origin and path, shared by every connection of the module: a byte-bounded
/// LRU with request coalescing (concurrent misses for one object wait for one upstream fetch).
///
/// Segments and other objects are keyed by origin and path (their query does not change the
/// bytes: SRS's `hls_ctx`, tokens); playlists by origin, path and query (without `spsid`).
/// Playlists live a fraction of their target duration, other objects `segment_ttl`; only `200`
/// answers are kept, the others go to the requests that waited for them and no further.
final class HLSCache: Sendable {
    struct Key: Hashable, Sendable {
        var origin: BackendAddress
        var target: String
    }

    /// One answer from an origin, whole.
    struct Object: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer
        var isPlaylist: Bool
    }

    enum Lookup: Sendable {
        case hit, miss, coalesced
    }

    private struct Entry {
        var object: Object
        var expires: NIODeadline
        var stamp: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// Least recently used first: stamp -> key.
        var order: [UInt64: Key] = [:]
        var nextStamp: UInt64 = 0
        var oldest: UInt64 = 0
        var bytes = 0
        var inFlight: [Key: Task<Object, any Error>] = [:]
    }

    let config: HLSCacheConfig
    let hits = Atomic<UInt64>(0)
    let misses = Atomic<UInt64>(0)
    let coalesced = Atomic<UInt64>(0)
    private let state = Mutex(State())

    init(config: HLSCacheConfig) {
        self.config = config
    }

    static func key(origin: BackendAddress, path: String, query: String, isPlaylist: Bool) -> Key {
        Key(origin: origin, target: isPlaylist && !query.isEmpty ? path + "?" + query : path)
    }

    /// The object at `key`: from the cache, from a fetch in flight, or from `fetch` (run once
    /// for every concurrent request of it; it goes on if the request that started it leaves).
    func object(_ key: Key, fetch: @escaping @Sendable () async throws -> Object) async throws -> (Object, Lookup) {
        let now = NIODeadline.now()
        enum Step { case hit(Object), wait(Task<Object, any Error>), fetch(Task<Object, any Error>) }
        let step: Step = state.withLock { s in
            if let entry = s.entries[key] {
                if entry.expires > now {
                    touch(key, &s)
                    return .hit(entry.object)
                }
                remove(key, &s)
            }
            if let task = s.inFlight[key] { return .wait(task) }
            let task = Task { try await fetch() }
            s.inFlight[key] = task
            return .fetch(task)
        }
        switch step {
        case .hit(let object):
            hits.wrappingAdd(1, ordering: .relaxed)
            return (object, .hit)
        case .wait(let task):
            coalesced.wrappingAdd(1, ordering: .relaxed)
            return (try await task.value, .coalesced)
        case .fetch(let task):
            misses.wrappingAdd(1, ordering: .relaxed)
            let result = await task.result
            state.withLock { s in
                s.inFlight[key] = nil
                if case .success(let object) = result, object.status == .ok { store(key, object, &s) }
            }
            return (try result.get(), .miss)
        }
    }

    var storedBytes: Int { state.withLock { $0.bytes } }

    // MARK: The LRU

    private func lifetime(_ object: Object) -> TimeAmount {
        guard object.isPlaylist else { return TimeAmount(config.segmentTTL.duration) }
        let seconds = Self.targetDuration(object.body).map { $0 * config.playlistFraction } ?? 1
        return .milliseconds(Int64(min(max(seconds, 0.1), 10) * 1000))
    }

    private func store(_ key: Key, _ object: Object, _ s: inout State) {
        let size = object.body.readableBytes
        guard size <= config.maxObjectBytes else { return }
        remove(key, &s)
        while s.bytes + size > config.bytes, let oldest = oldestKey(&s) { remove(oldest, &s) }
        let stamp = s.nextStamp
        s.nextStamp += 1
        s.entries[key] = Entry(object: object, expires: .now() + lifetime(object), stamp: stamp)
        s.order[stamp] = key
        s.bytes += size
    }

    private func touch(_ key: Key, _ s: inout State) {
        guard var entry = s.entries[key] else { return }
        s.order[entry.stamp] = nil
        entry.stamp = s.nextStamp
        s.nextStamp += 1
        s.order[entry.stamp] = key
        s.entries[key] = entry
    }

    private func remove(_ key: Key, _ s: inout State) {
        guard let entry = s.entries.removeValue(forKey: key) else { return }
        s.order[entry.stamp] = nil
        s.bytes -= entry.object.body.readableBytes
    }

    /// The least recently used key (stamps only grow: the scan starts where the last one ended).
    private func oldestKey(_ s: inout State) -> Key? {
        while s.oldest < s.nextStamp {
            if let key = s.order[s.oldest] { return key }
            s.oldest += 1
        }
        return nil
    }

    /// `#EXT-X-TARGETDURATION:<seconds>` of a media playlist.
    static func targetDuration(_ body: ByteBuffer) -> Double? {
        let text = String(buffer: body)
        guard let range = text.range(of: "#EXT-X-TARGETDURATION:") else { return nil }
        let digits = text[range.upperBound...].prefix { $0.isNumber || $0 == "." }
        return Double(digits).flatMap { $0 > 0 ? $0 : nil }
    }

    func samples() -> [MetricSample] {
        [
            MetricSample(name: "http_flv_hls_cache_hits_total", help: "HLS requests answered from the cache.", kind: .counter, value: Double(hits.load(ordering: .relaxed))),
            MetricSample(name: "http_flv_hls_cache_misses_total", help: "HLS requests that fetched from the origin.", kind: .counter, value: Double(misses.load(ordering: .relaxed))),
            MetricSample(
                name: "http_flv_hls_cache_coalesced_total", help: "HLS requests that waited for a fetch another request started.",
                kind: .counter, value: Double(coalesced.load(ordering: .relaxed))),
            MetricSample(name: "http_flv_hls_cache_bytes", help: "Bytes of HLS objects in the cache.", kind: .gauge, value: Double(storedBytes)),
        ]
    }
}
