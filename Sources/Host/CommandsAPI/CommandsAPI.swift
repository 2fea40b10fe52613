import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ProxyCore
import ProxyNet

/// The commands API (default port 12026, off by default): what the deployment can still take,
/// closing a stream on every proxy, and a report of every stream's sessions. Every proxy shares
/// its session counts and reads close requests through the registry (CommandsSharingService),
/// so any proxy's commands API answers for the whole deployment.
struct CommandsAPI {
    static let maxBodySize = 64 * 1024
    /// Every path served, with its method (a 405 names it in `Allow`).
    static let paths: [String: String] = ["/commands/capacity": "GET", "/commands/close": "POST", "/commands/report": "GET"]
    /// How long a close request stays in the shared log (every proxy polls it about twice a second).
    static let closeRequestTTL: Duration = .seconds(30)

    var config: CommandsAPIConfig
    var sessions: LocalSessions
    var registry: any Registry
    var counts: any SessionCountStore
    var closes: any StreamCloseBroadcast
    /// Whether other proxies share the registry (redis): close requests are broadcast then.
    var shared: Bool
    var group: any EventLoopGroup
    /// Connection caps and timeouts of the listener (`limits:`).
    var limits = LimitsConfig()
    /// This proxy's client listeners (the coordinator's `streamingServers`), as they are bound.
    var listeners: CoordinatorShapes.BoundListeners?
    /// The hooks' event queue: sessions whose `stream-closed` is queued stay in `activeStreams`;
    /// at most `eventsLimit` (hooks.events.queue_limit) of its items are read per answer.
    var events: (any EventQueue)?
    var eventsLimit = 10_000
    /// `log.requests`: one line per answered request (read per request: a reload switches it).
    var logRequests = Live(true)
    /// `commands_api.auth` as a reload last applied it.
    var liveAuth: Live<CommandsAuthConfig>?
    var logger: Logger
    var onListening: @Sendable (String, SocketAddress) -> Void

    func makeApplication() throws -> some ApplicationProtocol {
        let router = Hummingbird.Router(context: APIRequestContext.self)
        router.add(middleware: RequestLogMiddleware<APIRequestContext>(enabled: logRequests, logger: logger))
        router.add(middleware: APIErrorMiddleware<APIRequestContext>(logger: logger, knownPaths: Self.paths))
        router.add(middleware: APIAuthMiddleware<APIRequestContext>(auth: config.auth, live: liveAuth, logger: logger))
        router.get("/commands/capacity") { _, _ in try await capacity() }
        router.post("/commands/close") { request, _ in try await close(request) }
        router.get("/commands/report") { _, _ in try await report() }
        if config.auth.none { logger.warning("the commands API is served without authentication (commands_api.auth.none)") }
        return try APIServer.application(
            name: "commands-api", router: router, listen: config.listen, tls: config.tls, limits: limits, group: group, logger: logger,
            onListening: onListening)
    }

    /// Every live proxy's figures, this proxy's own taken fresh.
    private func allCounts() async throws -> [SessionCounts] {
        let mine = await sessions.counts()
        var all = try await counts.liveSessionCounts().filter { $0.proxy != mine.proxy }
        all.append(mine)
        return all.sorted { $0.proxy < $1.proxy }
    }

    // MARK: - POST /commands/close

    private func close(_ request: Request) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: Self.maxBodySize)
        // The coordinator's form: an empty body, the channel and the streaming id in headers.
        let channel = request.headers[HTTPField.Name("x-streaming-channel")!]
        let session = request.headers[HTTPField.Name("x-streaming-id")!]
        guard (channel?.utf8.count ?? 0) <= StreamKey.maxLength, (session?.utf8.count ?? 0) <= 256 else {
            throw APIError(.badRequest, "x-streaming-channel (at most \(StreamKey.maxLength) bytes) or x-streaming-id (at most 256) is too long")
        }
        if body.readableBytes == 0, let channel { return try await closeChannel(channel, session: session) }
        let key = try CloseRequestBody.parse(Data(buffer: body))
        let closeRequest = StreamCloseRequest(key: key, origin: sessions.proxy)
        let closed = await sessions.close(key, reason: "commands API close request \(closeRequest.id)")
        if shared { try await closes.broadcastClose(closeRequest, ttl: Self.closeRequestTTL) }
        logger.info("close requested", metadata: [
            "stream": "\(key)", "request": "\(closeRequest.id)", "closed_here": "\(closed)", "broadcast": "\(shared)",
        ])
        return JSONResponse.ok([
            "key": key.description, "vhost": key.vhost, "app": key.app, "stream": key.stream, "request_id": closeRequest.id,
            "closed": closed, "proxy": sessions.proxy, "broadcast": shared,
        ])
    }

    /// `x-streaming-channel` + `x-streaming-id`: closes that publishing session (wherever it is),
    /// or with `*` every session of every stream of the channel, on every proxy.
    private func closeChannel(_ channel: String, session: String?) async throws -> Response {
        guard let session, !session.isEmpty else { throw APIError(.badRequest, "x-streaming-id is missing (the streaming id, or * for the whole channel)") }
        let entries = try await allCounts().flatMap(\.entries).filter { $0.key.app == channel }
        let targets: [(StreamKey, String?)] = session == "*"
            ? Set(entries.map(\.key)).sorted().map { ($0, nil) }
            : Set(entries.filter { $0.publisherSessions.contains(session) }.map(\.key)).sorted().map { ($0, session) }
        var closed = 0
        for (key, only) in targets {
            let request = StreamCloseRequest(key: key, origin: sessions.proxy, session: only)
            closed += await sessions.close(key, reason: "commands API close request \(request.id)", session: only)
            if shared { try await closes.broadcastClose(request, ttl: Self.closeRequestTTL) }
        }
        logger.info("close requested", metadata: [
            "channel": "\(channel)", "streaming_id": "\(session)", "streams": "\(targets.count)", "closed_here": "\(closed)", "broadcast": "\(shared)",
        ])
        return JSONResponse.ok([
            "channel": channel, "streaming_id": session, "streams": targets.map { $0.0.description }, "closed": closed, "proxy": sessions.proxy,
            "broadcast": shared,
        ])
    }

    // MARK: - GET /commands/capacity

    private func capacity() async throws -> Response {
        let all = try await allCounts()
        let alive = try await registry.aliveBackends()
        let routes = try await registry.routes()
        let drains = try await (registry as? any OriginDrains)?.drains() ?? [:]
        let mine = all.first { $0.proxy == sessions.proxy } ?? SessionCounts(proxy: sessions.proxy, entries: [])

        func moduleFigures(_ c: SessionCounts) -> [String: Any] {
            var out: [String: Any] = [:]
            let names = Set(sessions.modules.map(\.name)).union(c.limits.keys)
            for name in names.sorted() {
                let open = c.entries.filter { $0.module == name }.reduce(0) { $0 &+ $1.sessions }
                var m: [String: Any] = ["sessions": open]
                if let max = c.limits[name] {
                    m["max_sessions"] = max
                    m["free"] = Swift.max(0, max - open)
                }
                out[name] = m
            }
            return out
        }

        var backendSessions: [Backend.ID: Int] = [:]
        var backendStreams: [Backend.ID: Set<StreamKey>] = [:]
        for c in all {
            for e in c.entries {
                backendSessions[e.backend, default: 0] &+= e.sessions
                backendStreams[e.backend, default: []].insert(e.key)
            }
        }
        let policy = sessions.routers.first?.configuration.placement ?? PlacementPolicy()
        func isFull(_ b: Backend) -> Bool {
            policy.fullness(of: b, at: BackendLoad(streams: backendStreams[b.id]?.count ?? 0, sessions: backendSessions[b.id] ?? 0)) != nil
        }
        let routesByBackend = Dictionary(grouping: routes, by: \.backendID)
        let backends: [[String: Any]] = alive.map { b in
            let held = routesByBackend[b.id] ?? []
            return [
                "id": b.id.rawValue, "ip": b.ip, "routes": held.count, "streams": Set(held.map(\.key)).count,
                "sessions": backendSessions[b.id] ?? 0,
                "protocols": EndpointKind.allCases.filter { b.exposes($0) }.map(\.rawValue),
                "draining": drains[b.id] != nil, "full": isFull(b),
            ]
        }

        // The verdict for new sessions through this proxy: no backend, a module at its cap, a module
        // at 80% of its cap, or ok.
        let fractions = mine.limits.map { name, max -> Double in
            let open = mine.entries.filter { $0.module == name }.reduce(0) { $0 &+ $1.sessions }
            return Double(open) / Double(Swift.max(1, max))
        }
        let verdict: String
        if alive.isEmpty {
            verdict = "no_backend"
        } else if fractions.contains(where: { $0 >= 1 }) || alive.allSatisfy({ drains[$0.id] != nil || isFull($0) }) {
            verdict = "full"
        } else if fractions.contains(where: { $0 >= 0.8 }) {
            verdict = "busy"
        } else {
            verdict = "ok"
        }
        let proxies: [[String: Any]] = all.map { c in
            [
                "proxy": c.proxy, "sessions": c.entries.reduce(0) { $0 &+ $1.sessions }, "modules": moduleFigures(c),
                "updated": ISO8601.string(c.updatedAt),
            ]
        }
        var answer: [String: Any] = [
            "proxy": sessions.proxy, "verdict": verdict, "accepting": verdict != "no_backend" && verdict != "full",
            "modules": moduleFigures(mine), "sessions": mine.entries.reduce(0) { $0 &+ $1.sessions },
            "backends": backends, "alive_backends": alive.count, "routes": routes.count, "proxies": proxies,
        ]
        // The coordinator's fields (CoordinatorShapes.swift).
        let closing = try await CoordinatorShapes.closing(events, max: eventsLimit)
        answer.merge(CoordinatorShapes.capacity(counts: all, closing: closing, alive: alive, policy: policy)) { _, coordinator in coordinator }
        return JSONResponse.ok(answer)
    }

    // MARK: - GET /commands/report

    private func report() async throws -> Response {
        let all = try await allCounts()
        let routes = try await registry.routes()
        let drains = try await (registry as? any OriginDrains)?.drains() ?? [:]
        struct Totals {
            var publishers = 0
            var players = 0
            var bytesFromClients: UInt64 = 0
            var bytesToClients: UInt64 = 0

            mutating func add(_ e: SessionCounts.Entry) {
                publishers &+= e.publishers
                players &+= e.players
                bytesFromClients &+= e.bytesFromClients
                bytesToClients &+= e.bytesToClients
            }

            var json: [String: Any] {
                ["publishers": publishers, "players": players, "sessions": publishers &+ players,
                 "bytes_from_clients": bytesFromClients, "bytes_to_clients": bytesToClients]
            }
        }
        var perStream: [StreamKey: (totals: Totals, backends: Set<Backend.ID>, modules: [String: Totals], proxies: [String: Totals])] = [:]
        var perModule: [String: Totals] = [:]
        var perProxy: [String: Totals] = [:]
        var overall = Totals()
        for c in all {
            perProxy[c.proxy] = perProxy[c.proxy] ?? Totals()
            for e in c.entries {
                let module = e.module
                var s = perStream[e.key] ?? (Totals(), [], [:], [:])
                s.totals.add(e)
                s.backends.insert(e.backend)
                s.modules[module, default: Totals()].add(e)
                s.proxies[c.proxy, default: Totals()].add(e)
                perStream[e.key] = s
                perModule[module, default: Totals()].add(e)
                perProxy[c.proxy, default: Totals()].add(e)
                overall.add(e)
            }
        }
        let routeByKey = Dictionary(routes.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let streams: [[String: Any]] = perStream.keys.sorted().map { key in
            let s = perStream[key]!
            var o = s.totals.json
            o["key"] = key.description
            o["vhost"] = key.vhost
            o["app"] = key.app
            o["stream"] = key.stream
            let route = routeByKey[key]
            o["backend"] = route?.backendID.rawValue ?? s.backends.sorted().first?.rawValue ?? ""
            o["backends"] = s.backends.sorted().map(\.rawValue)
            o["modules"] = s.modules.mapValues(\.json)
            o["proxies"] = s.proxies.keys.sorted().map { p in
                var t = s.proxies[p]!.json
                t["proxy"] = p
                return t
            }
            return o
        }
        var totals = overall.json
        totals["streams"] = perStream.count
        totals["modules"] = perModule.mapValues(\.json)
        totals["proxies"] = perProxy.mapValues(\.json)
        var answer: [String: Any] = [
            "proxy": sessions.proxy, "streams": streams, "totals": totals, "draining_origins": drains.keys.sorted().map(\.rawValue),
        ]
        answer.merge(CoordinatorShapes.report(
            counts: all, closing: try await CoordinatorShapes.closing(events, max: eventsLimit), alive: try await registry.aliveBackends(), listeners: listeners?.listeners ?? [], policy: sessions.routers.first?.configuration.placement ?? PlacementPolicy()
        )) { _, coordinator in coordinator }
        return JSONResponse.ok(answer)
    }
}
