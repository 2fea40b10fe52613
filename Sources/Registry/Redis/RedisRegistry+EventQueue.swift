import ProxyCore

/// RedisRegistry's event-callback queue, shared by every proxy on the Redis: each operation is
/// one Lua script, so a claim is atomic across proxies, on the server's clock.
///
/// Keys, under `keyPrefix`:
/// - `<p>:events:due`: sorted set of item ids by the time (ms) they are due: enqueue time, then
///   the end of a claim's lease, or the time of the next attempt;
/// - `<p>:events:payload`: hash of item id -> payload;
/// - `<p>:events:attempts`: hash of item id -> claims so far.
extension RedisRegistry: EventQueue {
    private var eventKeys: [String] {
        let p = client.configuration.keyPrefix
        return ["\(p):events:due", "\(p):events:payload", "\(p):events:attempts"]
    }

    private func evalEvents(_ script: String, _ args: [String]) async throws -> RedisReply {
        try await client.send(["EVAL", script, "3"] + eventKeys + args)
    }

    public func enqueue(id: String, payload: String, limit: Int) async throws -> Bool {
        try await evalEvents(EventScripts.enqueue, [id, payload, String(limit)]).integer == 1
    }

    public func claim(max: Int, lease: Duration) async throws -> [QueuedEvent] {
        guard max > 0 else { return [] }
        let reply = try await evalEvents(EventScripts.claim, [String(max), String(Swift.max(1, Self.ms(lease)))]).array
        return try Self.items(reply, "claim")
    }

    public func ack(_ id: String) async throws {
        _ = try await evalEvents(EventScripts.ack, [id])
    }

    public func retry(_ id: String, after: Duration) async throws {
        _ = try await evalEvents(EventScripts.retry, [id, String(Swift.max(0, Self.ms(after)))])
    }

    public func queuedEvents() async throws -> Int {
        try await client.send(["ZCARD", eventKeys[0]]).integer ?? 0
    }

    public func queuedEvents(idContaining part: String, max: Int) async throws -> [QueuedEvent] {
        guard max > 0 else { return [] }
        let reply = try await evalEvents(EventScripts.find, [part, String(max)]).array
        return try Self.items(reply, "find")
    }

    /// {id, payload, attempts, ...} as items.
    private static func items(_ reply: [RedisReply], _ what: String) throws -> [QueuedEvent] {
        var items: [QueuedEvent] = []
        var i = 0
        while i + 2 < reply.count {
            defer { i += 3 }
            guard let id = reply[i].string, let payload = reply[i + 1].string, let attempts = reply[i + 2].integer else {
                throw RedisError.unexpected("\(what): \(reply[i..<i + 3])")
            }
            items.append(QueuedEvent(id: id, payload: payload, attempts: attempts))
        }
        return items
    }

    /// KEYS for every script: due set, payload hash, attempts hash.
    enum EventScripts {
        private static let now = Scripts.now

        /// ARGV: id, payload, limit. 1 when queued (or already queued), 0 when the queue is full.
        static let enqueue = """
            if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 1 end
            if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
            """ + now + """
            redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
            redis.call('ZADD', KEYS[1], now, ARGV[1])
            return 1
            """

        /// ARGV: most items, lease (ms). Returns {id, payload, attempts, id, payload, attempts, ...}.
        static let claim = now + """
            local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
            local out = {}
            for _, id in ipairs(ids) do
              local p = redis.call('HGET', KEYS[2], id)
              if p then
                redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
                local n = redis.call('HINCRBY', KEYS[3], id, 1)
                table.insert(out, id)
                table.insert(out, p)
                table.insert(out, n)
              else
                redis.call('ZREM', KEYS[1], id)
                redis.call('HDEL', KEYS[3], id)
              end
            end
            return out
            """

        /// ARGV: part of the id, most items. Returns {id, payload, attempts, ...}; the queue's
        /// bound (`queue_limit`) bounds the scan.
        static let find = """
            local out = {}
            local n = 0
            for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
              if string.find(id, ARGV[1], 1, true) then
                local p = redis.call('HGET', KEYS[2], id)
                if p then
                  table.insert(out, id)
                  table.insert(out, p)
                  table.insert(out, tonumber(redis.call('HGET', KEYS[3], id) or '0'))
                  n = n + 1
                  if n >= tonumber(ARGV[2]) then break end
                end
              end
            end
            return out
            """

        /// ARGV: id.
        static let ack = """
            redis.call('ZREM', KEYS[1], ARGV[1])
            redis.call('HDEL', KEYS[2], ARGV[1])
            redis.call('HDEL', KEYS[3], ARGV[1])
            return 0
            """

        /// ARGV: id, delay (ms). Only an item still queued is rescheduled.
        static let retry = """
            if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
            """ + now + """
            redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
            return 1
            """
    }
}
