import CHiredis
import Foundation
import Synchronization

/// One blocking hiredis connection with connect and command timeouts, AUTH and SELECT, and
/// reconnection with backoff. Not thread-safe: RedisClient gives each connection its own
/// serial queue.
/// How many times a connection of one pool got Redis to answer after (re)connecting.
final class RedisPoolConnects: Sendable {
    let count = Atomic<Int>(0)
}

final class RedisConnection {
    private let configuration: RedisConfiguration
    private var context: UnsafeMutablePointer<redisContext>?
    private var failures = 0
    private var retryAfter = ContinuousClock.now
    /// Connections of the pool that got a reply after connecting: once another connection got
    /// an answer from Redis again, this one skips the rest of its backoff.
    private let poolConnects: RedisPoolConnects?
    private var poolConnectsAtBackoff = 0
    /// This connection got a reply since it connected (it has counted in `poolConnects`).
    private var answered = false

    init(configuration: RedisConfiguration, poolConnects: RedisPoolConnects? = nil) {
        self.configuration = configuration
        self.poolConnects = poolConnects
    }

    deinit {
        if let context { redisFree(context) }
    }

    /// Runs one command; on an I/O error the connection is dropped and the next command reconnects.
    func command(_ arguments: [String]) throws(RedisError) -> RedisReply {
        if context == nil { try connect() }
        let reply = try send(arguments)
        if !answered {
            answered = true
            poolConnects?.count.wrappingAdd(1, ordering: .relaxed)
        }
        if case .error(let message) = reply { throw .server(message) }
        return reply
    }

    private func connect() throws(RedisError) {
        guard ContinuousClock.now >= retryAfter || (poolConnects?.count.load(ordering: .relaxed) ?? 0) > poolConnectsAtBackoff else {
            throw .unavailable("reconnecting to \(configuration.host):\(configuration.port) (backoff)")
        }
        let ctx = redisConnectWithTimeout(configuration.host, Int32(configuration.port), timeval(configuration.connectTimeout))
        guard let ctx, ctx.pointee.err == 0 else {
            let why = ctx.map { Self.errorText($0) } ?? "out of memory"
            if let ctx { redisFree(ctx) }
            backOff()
            throw .unavailable("connect to \(configuration.host):\(configuration.port): \(why)")
        }
        _ = redisSetTimeout(ctx, timeval(configuration.commandTimeout))
        context = ctx
        do {
            if !configuration.password.isEmpty { try expectOK(send(["AUTH", configuration.password]), "AUTH") }
            if configuration.database != 0 { try expectOK(send(["SELECT", String(configuration.database)]), "SELECT") }
        } catch {
            drop()
            backOff()
            throw error
        }
        failures = 0
        answered = false
    }

    private func expectOK(_ reply: RedisReply, _ what: String) throws(RedisError) {
        if case .error(let message) = reply { throw .server("\(what): \(message)") }
    }

    private func send(_ arguments: [String]) throws(RedisError) -> RedisReply {
        guard let context else { throw .unavailable("not connected") }
        let bytes = arguments.map { Array($0.utf8) }
        let raw: UnsafeMutableRawPointer? = withCStrings(bytes) { argv, lengths in
            redisCommandArgv(context, Int32(bytes.count), argv, lengths)
        }
        guard let raw else {
            let why = Self.errorText(context)
            drop()
            backOff()
            throw .unavailable(why)
        }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    private func drop() {
        if let context { redisFree(context) }
        context = nil
    }

    private func backOff() {
        failures += 1
        poolConnectsAtBackoff = poolConnects?.count.load(ordering: .relaxed) ?? 0
        let delay = min(Duration.milliseconds(100) * (1 << min(failures - 1, 5)), .seconds(2))
        retryAfter = ContinuousClock.now + delay
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Copies hiredis' reply (and its elements, which hiredis nests at most 7 deep) out of C memory.
    static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        func text() -> String {
            guard let str = r.str else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: str, count: Int(r.len)), as: UTF8.self)
        }
        switch r.type {
        case REDIS_REPLY_STRING: return .string(text())
        case REDIS_REPLY_STATUS: return .status(text())
        case REDIS_REPLY_ERROR: return .error(text())
        case REDIS_REPLY_INTEGER: return .integer(Int(r.integer))
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(r.elements)).compactMap { i in r.element[i].map(convert) })
        default: return .null
        }
    }
}

private func timeval(_ d: Duration) -> timeval {
    let c = d.components
    return Glibc.timeval(tv_sec: Int(c.seconds), tv_usec: Int(c.attoseconds / 1_000_000_000_000))
}

/// Calls `body` with C `argv` and length arrays for `arguments` (binary-safe).
private func withCStrings<R>(_ arguments: [[UInt8]], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
    let storage: [UnsafeMutablePointer<CChar>] = arguments.map { bytes in
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
        bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { if let base = $0.baseAddress { p.update(from: base, count: bytes.count) } }
        }
        return p
    }
    defer { storage.forEach { $0.deallocate() } }
    var argv: [UnsafePointer<CChar>?] = storage.map { UnsafePointer($0) }
    let lengths = arguments.map(\.count)
    return argv.withUnsafeMutableBufferPointer { a in lengths.withUnsafeBufferPointer { l in body(a.baseAddress!, l.baseAddress!) } }
}
