extension RedisRegistry {
    /// The Lua scripts behind every registry operation that reads and then writes: each runs
    /// atomically on the server, with the server's clock.
    enum Scripts {
        /// Sets `now` to the server's time in ms; joined between script parts, so it has its own
        /// line breaks. Every script that reads the clock starts with it.
        static let now = "\n" + """
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            """ + "\n"

        /// Forgets the backends of index `KEYS[1]` not heard from since `before` (ms), and their
        /// gaps in the hash named `gaps`.
        private static func forget(before: String) -> String {
            """
            for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', \(before))) do
              redis.call('ZREM', KEYS[1], id)
              redis.call('HDEL', gaps, id)
            end
            """ + "\n"
        }

        /// KEYS: backends index, backend key, heartbeat gaps hash. ARGV: backend JSON, 2 x alive
        /// (ms), backend id. The gap since the backend's previous heartbeat is its cadence, unless
        /// shorter than a second (Liveness.cadence).
        static let heartbeat = now + """
            local gaps = KEYS[3]
            local prev = redis.call('ZSCORE', KEYS[1], ARGV[3])
            redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
            redis.call('ZADD', KEYS[1], now, ARGV[3])
            if prev and now - tonumber(prev) >= 1000 then redis.call('HSET', gaps, ARGV[3], now - tonumber(prev)) end
            """ + "\n" + forget(before: "now - tonumber(ARGV[2])") + "return now"

        /// Appends `json, seen, gap` (gap -1 when unknown) of every backend heard from within
        /// 2 x alive to `out` and returns it. KEYS[1]: backends index; `gaps` set before.
        /// ARGV: alive (ms), backend key prefix.
        private static let appendBackends = """
            local alive = tonumber(ARGV[1])
            """ + "\n" + forget(before: "now - 2 * alive") + """
            local ids = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
            for i = 1, #ids, 2 do
              local v = redis.call('GET', ARGV[2] .. ids[i])
              if v then
                table.insert(out, v)
                table.insert(out, tonumber(ids[i + 1]))
                table.insert(out, tonumber(redis.call('HGET', gaps, ids[i]) or -1))
              end
            end
            return out
            """

        /// KEYS: backends index, heartbeat gaps hash. ARGV: alive (ms), backend key prefix.
        /// Returns {now, json, seen, gap, json, seen, gap, ...}.
        static let backends = now + "local gaps = KEYS[2]\nlocal out = {now}\n" + appendBackends

        /// KEYS: route key. Returns {value, pttl} or an empty list.
        static let route = """
            local v = redis.call('GET', KEYS[1])
            if not v then return {} end
            return {v, redis.call('PTTL', KEYS[1])}
            """

        /// KEYS: route key, routes index. ARGV: backend id, ttl (ms), replacing id or '', key JSON.
        /// A live route stays unless it is held by `replacing` (and not by the claimant).
        static let claim = """
            local cur = redis.call('GET', KEYS[1])
            if cur then
              local holder = string.match(cur, '^([^\\n]*)')
              if holder == ARGV[1] or holder ~= ARGV[3] then
                return {cur, redis.call('PTTL', KEYS[1])}
              end
            end
            """ + now + """
            local ttl = tonumber(ARGV[2])
            local v = ARGV[1] .. '\\n' .. now .. '\\n' .. ARGV[4]
            redis.call('SET', KEYS[1], v, 'PX', ttl)
            redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
            return {v, ttl}
            """

        /// KEYS: route key, routes index. ARGV: backend id, ttl (ms). 1 when the backend holds it (extended, never shortened).
        static let refresh = """
            local cur = redis.call('GET', KEYS[1])
            if not cur or string.match(cur, '^([^\\n]*)') ~= ARGV[1] then return 0 end
            local ttl = tonumber(ARGV[2])
            if redis.call('PTTL', KEYS[1]) < ttl then
            """ + now + """
              redis.call('PEXPIRE', KEYS[1], ttl)
              redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
            end
            return 1
            """

        /// KEYS: route key, routes index. ARGV: backend id. Drops the route only for its holder.
        static let release = """
            local cur = redis.call('GET', KEYS[1])
            if cur and string.match(cur, '^([^\\n]*)') == ARGV[1] then
              redis.call('DEL', KEYS[1])
              redis.call('ZREM', KEYS[2], KEYS[1])
            end
            return 0
            """

        /// KEYS: routes index. ARGV: most routes to list. Returns {value, pttl, value, pttl, ...}.
        static let routes = now + """
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
            local names = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
            local out = {}
            for _, name in ipairs(names) do
              local v = redis.call('GET', name)
              if v then
                table.insert(out, v)
                table.insert(out, redis.call('PTTL', name))
              end
            end
            return out
            """
    }
}
