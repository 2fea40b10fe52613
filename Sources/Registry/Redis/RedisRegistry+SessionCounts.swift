import Foundation
import ProxyCore

/// Session counts in Redis: one hash per proxy, `<p>:counts:<proxy>` (field `meta`: the proxy's
/// limits; one field per stream entry), expiring with the ttl, and `<p>:counts`, a sorted set of
/// proxy ids by expiry (ms, the server's clock) that the reader walks. A publish replaces the
/// proxy's whole hash in one script, and each proxy writes only its own: no read-modify-write.
extension RedisRegistry: SessionCountStore {
    private var countsIndex: String { "\(client.configuration.keyPrefix):counts" }
    private var countsKeyPrefix: String { "\(client.configuration.keyPrefix):counts:" }

    /// Most proxies listed at once (a bounded reply).
    static let maxListedProxies = 1000

    private struct Meta: Codable {
        var limits: [String: Int]
    }

    public func publishSessionCounts(_ counts: SessionCounts, ttl: Duration) async throws {
        let encoder = JSONEncoder()
        var fields = ["meta", String(decoding: try encoder.encode(Meta(limits: counts.limits)), as: UTF8.self)]
        for (i, entry) in counts.entries.prefix(SessionCounts.maxEntries).enumerated() {
            fields.append("e\(i)")
            fields.append(String(decoding: try encoder.encode(entry), as: UTF8.self))
        }
        let key = countsKeyPrefix + counts.proxy
        _ = try await client.send(["EVAL", CountScripts.publish, "2", key, countsIndex, String(max(1, Self.ms(ttl))), counts.proxy] + fields)
    }

    public func liveSessionCounts() async throws -> [SessionCounts] {
        let reply = try await client.send(["EVAL", CountScripts.live, "1", countsIndex, countsKeyPrefix, String(Self.maxListedProxies)]).array
        var result: [SessionCounts] = []
        let decoder = JSONDecoder()
        var i = 0
        while i + 2 < reply.count {
            defer { i += 3 }
            guard let proxy = reply[i].string, let updated = reply[i + 1].integer else { continue }
            let fields = reply[i + 2].array
            var counts = SessionCounts(proxy: proxy, entries: [], updatedAt: Self.date(ms: updated))
            var entries: [(Int, SessionCounts.Entry)] = []
            var j = 0
            while j + 1 < fields.count {
                defer { j += 2 }
                guard let name = fields[j].string, let value = fields[j + 1].string else { continue }
                if name == "meta" {
                    counts.limits = (try? decoder.decode(Meta.self, from: Data(value.utf8)))?.limits ?? [:]
                } else if name.hasPrefix("e"), let index = Int(name.dropFirst()),
                    let entry = try? decoder.decode(SessionCounts.Entry.self, from: Data(value.utf8))
                {
                    entries.append((index, entry))
                }
            }
            // A hash has no order: the field numbers keep the order the proxy published.
            counts.entries = entries.sorted { $0.0 < $1.0 }.map(\.1)
            result.append(counts)
        }
        return result.sorted { $0.proxy < $1.proxy }
    }

    public func removeSessionCounts(proxy: String) async throws {
        _ = try await client.send(["EVAL", CountScripts.remove, "2", countsKeyPrefix + proxy, countsIndex, proxy])
    }

    enum CountScripts {
        private static let now = Scripts.now

        /// KEYS: the proxy's hash, the index. ARGV: ttl (ms), proxy id, then field, value pairs.
        static let publish = now + """
            local ttl = tonumber(ARGV[1])
            redis.call('DEL', KEYS[1])
            for i = 3, #ARGV, 2 do
              redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
            end
            redis.call('HSET', KEYS[1], 'updated', now)
            redis.call('PEXPIRE', KEYS[1], ttl)
            redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
            redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
            return now
            """

        /// KEYS: the index. ARGV: hash key prefix, most proxies. Returns {proxy, updated ms, {field, value, ...}, ...}.
        static let live = now + """
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
            local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
            local out = {}
            for _, id in ipairs(ids) do
              local all = redis.call('HGETALL', ARGV[1] .. id)
              local updated = redis.call('HGET', ARGV[1] .. id, 'updated')
              if updated then
                table.insert(out, id)
                table.insert(out, tonumber(updated))
                table.insert(out, all)
              end
            end
            return out
            """

        /// KEYS: the proxy's hash, the index. ARGV: proxy id.
        static let remove = """
            redis.call('DEL', KEYS[1])
            redis.call('ZREM', KEYS[2], ARGV[1])
            return 0
            """
    }
}
