import Foundation
import ProxyCore

/// Health views in Redis: the hash `<p>:health`, proxy id -> `<expiry ms>\n<view JSON>` on the
/// server's clock; a read drops the expired ones. Each proxy writes only its own field.
extension RedisRegistry: HealthViewStore {
    private var healthKey: String { "\(client.configuration.keyPrefix):health" }

    public func publishHealthView(_ view: HealthView, ttl: Duration) async throws {
        let json = String(decoding: try JSONEncoder().encode(view), as: UTF8.self)
        _ = try await client.send(["EVAL", HealthScripts.publish, "1", healthKey, view.proxy, String(max(1, Self.ms(ttl))), json])
    }

    public func liveHealthViews() async throws -> [HealthView] {
        let reply = try await client.send(["EVAL", HealthScripts.live, "1", healthKey, String(Self.maxListedProxies)]).array
        let decoder = JSONDecoder()
        return reply.compactMap { r in r.string.flatMap { try? decoder.decode(HealthView.self, from: Data($0.utf8)) } }.sorted { $0.proxy < $1.proxy }
    }

    enum HealthScripts {
        /// KEYS: the hash. ARGV: proxy id, ttl (ms), view JSON.
        static let publish = Scripts.now + """
            redis.call('HSET', KEYS[1], ARGV[1], (now + tonumber(ARGV[2])) .. '\\n' .. ARGV[3])
            return now
            """

        /// KEYS: the hash. ARGV: most views. Returns the live views' JSON; drops the expired.
        static let live = Scripts.now + """
            local out = {}
            local all = redis.call('HGETALL', KEYS[1])
            for i = 1, #all, 2 do
              local nl = string.find(all[i + 1], '\\n', 1, true)
              if nl and tonumber(string.sub(all[i + 1], 1, nl - 1)) > now then
                if #out < tonumber(ARGV[1]) then table.insert(out, string.sub(all[i + 1], nl + 1)) end
              else
                redis.call('HDEL', KEYS[1], all[i])
              end
            end
            return out
            """
    }
}
