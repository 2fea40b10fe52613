import Foundation
import ProxyCore

/// The close request log in Redis: `<p>:close`, a sorted set of `<expiry ms>\n<request JSON>`
/// scored by a sequence number from `<p>:close:seq` (INCR), trimmed to the newest
/// `StreamCloseLog.maxRequests` and expiring with the newest request's ttl. Readers skip
/// expired requests (the server's clock) and keep the sequence number as their cursor.
extension RedisRegistry: StreamCloseBroadcast {
    private var closeLog: String { "\(client.configuration.keyPrefix):close" }
    private var closeSeq: String { "\(client.configuration.keyPrefix):close:seq" }

    public func broadcastClose(_ request: StreamCloseRequest, ttl: Duration) async throws {
        let json = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        _ = try await client.send([
            "EVAL", CloseScripts.add, "2", closeLog, closeSeq, String(max(1, Self.ms(ttl))), json, String(StreamCloseLog.maxRequests),
        ])
    }

    public func closeRequests(after cursor: Int?) async throws -> StreamCloseBatch {
        let reply = try await client.send(["EVAL", CloseScripts.read, "2", closeLog, closeSeq, cursor.map(String.init) ?? "-1", String(StreamCloseLog.maxRequests)]).array
        guard let seq = reply.first?.integer else { throw RedisError.unexpected("close requests: \(reply.prefix(1))") }
        let decoder = JSONDecoder()
        let requests = reply.dropFirst().compactMap { r in r.string.flatMap { try? decoder.decode(StreamCloseRequest.self, from: Data($0.utf8)) } }
        return StreamCloseBatch(cursor: seq, requests: requests)
    }

    enum CloseScripts {
        private static let now = Scripts.now

        /// KEYS: log, seq. ARGV: ttl (ms), request JSON, most kept.
        static let add = now + """
            local ttl = tonumber(ARGV[1])
            local seq = redis.call('INCR', KEYS[2])
            redis.call('ZADD', KEYS[1], seq, (now + ttl) .. '\\n' .. ARGV[2])
            redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
            if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
            return seq
            """

        /// KEYS: log, seq. ARGV: cursor (-1: none), most returned. Returns {seq, json, json, ...}.
        static let read = now + """
            local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
            local cursor = tonumber(ARGV[1])
            if cursor < 0 then return {seq} end
            if cursor > seq then cursor = 0 end
            local out = {seq}
            local items = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. cursor, '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
            for _, item in ipairs(items) do
              local nl = string.find(item, '\\n', 1, true)
              if nl and tonumber(string.sub(item, 1, nl - 1)) > now then
                table.insert(out, string.sub(item, nl + 1))
              end
            end
            return out
            """
    }
}
