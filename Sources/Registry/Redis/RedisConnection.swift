import CHiredis
import Foundation
import Synchronization

/// One blocking hiredis connection with connect and command timeouts, AUTH and SELECT, and
/// reconnection with backoff. With sentinels configured, every connect asks them for the
/// primary and checks its ROLE, and a READONLY answer (a primary demoted by a failover) drops the
/// connection, so the next command follows the failover. Not thread-safe: RedisClient gives each
/// connection its own serial queue.
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
        if case .error(let message) = reply {
            // The server this connection reached was demoted: find the primary again.
            if message.hasPrefix("READONLY") || message.hasPrefix("MASTERDOWN") {
                drop()
                throw .unavailable("\(address) is no longer the primary: \(message)")
            }
            throw .server(message)
        }
        return reply
    }

    /// Where the last connect went (the configured server, or the primary a sentinel named).
    private var address = ""

    /// The server to connect to: the configured one, or the primary the first answering
    /// sentinel names for `masterName`.
    private func primary() throws(RedisError) -> RedisConfiguration.Endpoint {
        guard !configuration.sentinels.isEmpty else { return .init(host: configuration.host, port: configuration.port) }
        var problems: [String] = []
        for sentinel in configuration.sentinels {
            guard let ctx = redisConnectWithTimeout(sentinel.host, Int32(sentinel.port), timeval(configuration.connectTimeout)) else {
                problems.append("\(sentinel): out of memory")
                continue
            }
            defer { redisFree(ctx) }
            guard ctx.pointee.err == 0 else {
                problems.append("\(sentinel): \(Self.errorText(ctx))")
                continue
            }
            _ = redisSetTimeout(ctx, timeval(configuration.commandTimeout))
            switch Self.run(ctx, ["SENTINEL", "get-master-addr-by-name", configuration.masterName]) {
            case .array(let items)?:
                if items.count == 2, case .string(let host) = items[0], case .string(let port) = items[1], let p = Int(port) {
                    return .init(host: host, port: p)
                }
                problems.append("\(sentinel): unexpected answer")
            case .null?:
                problems.append("\(sentinel): knows no master named '\(configuration.masterName)'")
            case .error(let message)?:
                problems.append("\(sentinel): \(message)")
            default:
                problems.append("\(sentinel): \(Self.errorText(ctx))")
            }
        }
        throw .unavailable("no sentinel named the primary: \(problems.joined(separator: "; "))")
    }

    /// One command on a context of its own (a sentinel's); nil on an I/O error.
    private static func run(_ ctx: UnsafeMutablePointer<redisContext>, _ arguments: [String]) -> RedisReply? {
        let bytes = arguments.map { Array($0.utf8) }
        let raw: UnsafeMutableRawPointer? = withCStrings(bytes) { argv, lengths in
            redisCommandArgv(ctx, Int32(bytes.count), argv, lengths)
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    private func connect() throws(RedisError) {
        guard ContinuousClock.now >= retryAfter || (poolConnects?.count.load(ordering: .relaxed) ?? 0) > poolConnectsAtBackoff else {
            throw .unavailable("reconnecting to \(address.isEmpty ? "redis" : address) (backoff)")
        }
        let target: RedisConfiguration.Endpoint
        do {
            target = try primary()
        } catch {
            backOff()
            throw error
        }
        address = target.description
        let ctx = redisConnectWithTimeout(target.host, Int32(target.port), timeval(configuration.connectTimeout))
        guard let ctx, ctx.pointee.err == 0 else {
            let why = ctx.map { Self.errorText($0) } ?? "out of memory"
            if let ctx { redisFree(ctx) }
            backOff()
            throw .unavailable("connect to \(target): \(why)")
        }
        _ = redisSetTimeout(ctx, timeval(configuration.commandTimeout))
        context = ctx
        do throws(RedisError) {
            if !configuration.password.isEmpty { try expectOK(send(["AUTH", configuration.password]), "AUTH") }
            if configuration.database != 0 { try expectOK(send(["SELECT", String(configuration.database)]), "SELECT") }
            // A sentinel may still name a primary that a failover demoted: only a master will do.
            if !configuration.sentinels.isEmpty, case .array(let role) = try send(["ROLE"]), case .string(let kind)? = role.first, kind != "master" {
                throw RedisError.unavailable("\(target) is a \(kind), not the primary (a failover in progress)")
            }
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
