import Foundation
import ProxyCore

/// Drain states in Redis: the hash `<p>:drains`, backend id -> `<since ms> <close ms or -1>` on
/// the server's clock. `drains()` reads the server's time with them and turns each into this
/// process's clock, so proxies with skewed clocks close a drained origin's sessions together.
extension RedisRegistry: OriginDrains {
    private var drainsKey: String { "\(client.configuration.keyPrefix):drains" }

    public func drain(_ id: Backend.ID, grace: Duration?) async throws -> OriginDrain? {
        let reply = try await client.send([
            "EVAL", DrainScripts.set, "1", drainsKey, id.rawValue, grace.map { String(Self.ms($0)) } ?? "-1", String(OriginDrainLimits.maxDrains),
        ]).array
        guard reply.count == 3, let now = reply[0].integer else { return nil }
        return Self.drain(now: now, since: reply[1], closeAt: reply[2])
    }

    public func undrain(_ id: Backend.ID) async throws -> Bool {
        try await client.send(["HDEL", drainsKey, id.rawValue]).integer == 1
    }

    public func drains() async throws -> [Backend.ID: OriginDrain] {
        let reply = try await client.send(["EVAL", DrainScripts.all, "1", drainsKey]).array
        guard let now = reply.first?.integer else { throw RedisError.unexpected("drains: \(reply.prefix(1))") }
        var out: [Backend.ID: OriginDrain] = [:]
        var i = 1
        while i + 2 < reply.count {
            defer { i += 3 }
            guard let id = reply[i].string, let drain = Self.drain(now: now, since: reply[i + 1], closeAt: reply[i + 2]) else { continue }
            out[Backend.ID(id)] = drain
        }
        return out
    }

    /// A drain from the server's `now` and its stored times (ms), on this process's clock.
    private static func drain(now: Int, since: RedisReply, closeAt: RedisReply) -> OriginDrain? {
        guard let since = since.integer, let close = closeAt.integer else { return nil }
        let local = Date()
        func onThisClock(_ ms: Int) -> Date { local.addingTimeInterval(Double(ms - now) / 1000) }
        return OriginDrain(since: onThisClock(since), closeAt: close >= 0 ? onThisClock(close) : nil)
    }

    enum DrainScripts {
        /// KEYS: drains hash. ARGV: backend id, grace (ms, -1: none), most drains. Returns
        /// {now, since, close (-1: none)}, or {} when the hash is full.
        static let set = Scripts.now + """
            local old = redis.call('HGET', KEYS[1], ARGV[1])
            if not old and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {} end
            local since = now
            if old then since = tonumber(string.match(old, '^(%-?%d+)')) or now end
            local close = -1
            if tonumber(ARGV[2]) >= 0 then close = now + tonumber(ARGV[2]) end
            redis.call('HSET', KEYS[1], ARGV[1], since .. ' ' .. close)
            return {now, since, close}
            """

        /// KEYS: drains hash. Returns {now, id, since, close, id, since, close, ...}.
        static let all = Scripts.now + """
            local out = {now}
            local all = redis.call('HGETALL', KEYS[1])
            for i = 1, #all, 2 do
              local since, close = string.match(all[i + 1], '^(%-?%d+) (%-?%d+)$')
              if since then
                table.insert(out, all[i])
                table.insert(out, tonumber(since))
                table.insert(out, tonumber(close))
              end
            end
            return out
            """
    }
}
