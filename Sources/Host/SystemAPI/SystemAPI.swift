import Synchronization
import Foundation
import Hummingbird
import Logging
import NIOCore
import ProxyCore
import ProxyNet

/// The system API (default port 12025): origins register and heartbeat here, operators look at
/// origins and streams. Built on Hummingbird 2, which every API of the proxy uses.
struct SystemAPI {
    static let maxBodySize = 64 * 1024
    /// Every path served, with its method (a 405 names it in `Allow`).
    static let paths: [String: String] = [
        "/api/v1/srs/register": "POST", "/api/v1/versions": "GET", "/api/v1/origins": "GET", "/api/v1/streams": "GET", "/metrics": "GET",
        "/healthz": "GET", "/readyz": "GET", drainPath: "POST, DELETE", "/api/v1/proxies": "GET", "/console": "GET", reloadPath: "POST",
    ]

    var config: SystemAPIConfig
    var registry: any Registry
    var routers: [ProxyCore.Router]
    var group: any EventLoopGroup
    /// Connection caps and timeouts of the listener (`limits:`).
    var limits = LimitsConfig()
    var logger: Logger
    var onListening: @Sendable (String, SocketAddress) -> Void
    /// `registry.type`, shown by `/api/v1/origins`.
    var registryType = RegistryConfig.Kind.memory
    /// What `GET /metrics` reports; set by the host once the modules are built.
    var metrics: ProxyMetrics?
    /// True once a shutdown signal arrived (`/readyz` turns 503 at once).
    var shuttingDown: @Sendable () -> Bool = { false }
    /// The endpoints' health checks, when on (shown per origin).
    var health: BackendHealth?
    var identity = ProxyIdentity()
    /// `log.requests`: one line per answered request (read per request: a reload switches it).
    var logRequests = Live(true)
    /// `system_api` as a reload last applied it (tokens, allow, limits); `config` keeps what
    /// the listener was started with.
    var live: Live<SystemAPIConfig>?
    /// Re-reads the configuration (`POST /api/v1/reload`); nil in tests that start no host.
    var reloader: ConfigReloader?
    /// The settings in force for a request.
    var current: SystemAPIConfig { live?.value ?? config }

    func makeApplication() throws -> some ApplicationProtocol {
        let router = Hummingbird.Router(context: APIRequestContext.self)
        router.add(middleware: RequestLogMiddleware<APIRequestContext>(enabled: logRequests, logger: logger))
        router.add(middleware: APIErrorMiddleware<APIRequestContext>(logger: logger, knownPaths: Self.paths))
        router.post("/api/v1/srs/register") { request, context in try await register(request, context) }
        router.get("/api/v1/versions") { _, _ in versions() }
        router.get("/api/v1/origins") { request, context in
            try current.access.read(request, from: context.remoteAddress)
            return try await origins()
        }
        router.get("/api/v1/streams") { request, context in
            try current.access.read(request, from: context.remoteAddress)
            return try await streams()
        }
        router.post(RouterPath(Self.drainPath)) { request, context in try await drain(request, context) }
        router.delete(RouterPath(Self.drainPath)) { request, context in try await undrain(request, context) }
        router.post(RouterPath(Self.reloadPath)) { request, context in try await reload(request, context) }
        router.get("/api/v1/proxies") { request, context in try await proxies(request, context) }
        // `/console/` too: the router ignores a trailing slash; the page's API paths work from both.
        router.get("/console") { request, context in try consoleResponse(request, context) }
        router.get("/metrics") { _, _ in await metricsPage() }
        let probes = Probes(registry: registry, shuttingDown: shuttingDown)
        router.get("/healthz") { _, _ in probes.health() }
        router.get("/readyz") { _, _ in await probes.readiness() }
        return try APIServer.application(
            name: "system-api", router: router, listen: config.listen, tls: config.tls, limits: limits, group: group, logger: logger,
            onListening: onListening)
    }

    // MARK: - Handlers

    private func register(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let grant = try current.access.register(request, from: context.remoteAddress)
        var request = request
        let body = try await request.collectBody(upTo: Self.maxBodySize)
        let backend = try RegisterRequest.parse(Data(buffer: body), maxSummaries: current.maxSummariesSize)
        let known = try await registry.backends()
        if let live = known.first(where: { $0.backend.id == backend.id && $0.alive }), live.backend.ip != backend.ip, grant != .token {
            // Its id is public (/api/v1/origins): without the token, moving a live origin would
            // let anyone who can register take its new streams.
            throw APIError(
                .conflict,
                "origin \(backend.id) is alive at \(live.backend.ip); a register without system_api.register_token cannot move it to \(backend.ip)")
        }
        if !known.contains(where: { $0.backend.id == backend.id }), known.count >= current.maxBackends {
            throw APIError(.serviceUnavailable, "the registry holds system_api.max_backends (\(current.maxBackends)) origins; \(backend.id) is not added")
        }
        try await registry.heartbeat(backend)
        if identity.noteBackend(backend.id, limit: current.maxBackends) {
            // A new origin: the routers read the candidates again for the next new session.
            for router in routers { await router.invalidateCandidates() }
            logger.info("backend registered", metadata: [
                "backend": "\(backend.id)", "ip": "\(backend.ip)", "device_id": "\(backend.deviceID ?? "")",
                "endpoints": "\(EndpointKind.allCases.compactMap { k in backend.endpoints[k].map { "\(k.rawValue)=\($0.map(\.description).joined(separator: ","))" } }.joined(separator: " "))",
            ])
        } else {
            logger.trace("backend heartbeat", metadata: ["backend": "\(backend.id)"])
        }
        return JSONResponse.ok(["pid": String(ProcessInfo.processInfo.processIdentifier)])
    }

    private func versions() -> Response {
        JSONResponse.ok([
            "server": identity.server, "service": identity.service, "pid": String(ProcessInfo.processInfo.processIdentifier),
            "data": ["major": ProxyVersion.major, "minor": ProxyVersion.minor, "revision": ProxyVersion.revision, "version": ProxyVersion.string],
            "name": ProxyVersion.name,
        ])
    }

    private func origins() async throws -> Response {
        let now = Date()
        let records = try await registry.backends()
        let drains = try await (registry as? any OriginDrains)?.drains() ?? [:]
        let loads = await routers.first?.loads ?? [:]
        let list: [[String: Any]] = records.map { r in
            var o: [String: Any] = [
                "id": r.backend.id.rawValue, "server": r.backend.server, "service": r.backend.service, "pid": r.backend.pid,
                "ip": r.backend.ip, "device_id": r.backend.deviceID ?? "", "alive": r.alive,
                "age_s": (now.timeIntervalSince(r.lastSeen) * 10).rounded() / 10, "last_seen": ISO8601.string(r.lastSeen),
                "endpoints": Dictionary(uniqueKeysWithValues: r.backend.endpoints.map { ($0.key.rawValue, $0.value.map(\.description)) }),
            ]
            if let interval = r.heartbeatInterval { o["heartbeat_interval_s"] = (interval * 10).rounded() / 10 }
            o.merge(Self.drainJSON(drains[r.backend.id])) { _, new in new }
            if let checks = health.map({ Self.healthJSON($0, r.backend) }), !checks.isEmpty { o["health"] = checks }
            o.merge(Self.placementJSON(r.backend, load: loads[r.backend.id] ?? .zero)) { _, new in new }
            if let s = r.backend.summaries, let obj = try? JSONSerialization.jsonObject(with: Data(s.utf8)) { o["summaries"] = obj }
            return o
        }
        return JSONResponse.ok(["origins": list, "backend_alive_s": registry.backendAlive.seconds, "registry": registryType.rawValue])
    }

    /// Prometheus text (version 0.0.4) written by swift-prometheus, computed now (SystemAPI doc: docs/operations.md, Metrics).
    private func metricsPage() async -> Response {
        let metrics = self.metrics ?? ProxyMetrics(registry: registry, routers: routers, modules: [], hookCounters: nil, startedAt: Date())
        return Response(
            status: .ok, headers: [.contentType: PrometheusExposition.contentType],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: await metrics.render())))
    }

    /// One entry per stream and backend: the registry's route, joined with this proxy's sessions on
    /// it. Sessions left on a backend the stream has moved away from are listed on their own entry.
    private func streams() async throws -> Response {
        struct EntryID: Hashable {
            var key: StreamKey
            var backend: Backend.ID
        }
        let routes = try await registry.routes()
        var routeByID: [EntryID: Route] = [:]
        var routed = Set<StreamKey>()
        for route in routes {
            routeByID[EntryID(key: route.key, backend: route.backendID)] = route
            routed.insert(route.key)
        }
        var local: [EntryID: [LocalRoute]] = [:]
        for router in routers {
            for r in await router.localRoutes() { local[EntryID(key: r.key, backend: r.backendID), default: []].append(r) }
        }
        var ids = Set(routeByID.keys)
        ids.formUnion(local.keys)
        let now = Date()
        let list: [[String: Any]] = ids.sorted { ($0.key, $0.backend) < ($1.key, $1.backend) }.map { id in
            let route = routeByID[id]
            let mine = local[id] ?? []
            var o: [String: Any] = [
                "key": id.key.description, "vhost": id.key.vhost, "app": id.key.app, "stream": id.key.stream,
                "backend": id.backend.rawValue,
                "sessions": mine.reduce(0) { $0 + $1.sessions },
                "since": ISO8601.string(route?.claimedAt ?? mine.map(\.since).min() ?? now),
                "bytes_from_clients": mine.reduce(UInt64(0)) { $0 + $1.bytesFromClients },
                "bytes_to_clients": mine.reduce(UInt64(0)) { $0 + $1.bytesToClients },
                "clients": mine.flatMap(\.clients).map { ["address": $0.address, "protocol": $0.kind.rawValue, "since": ISO8601.string($0.since)] },
            ]
            if let route {
                o["route"] = "active"
                o["expires_in_s"] = (route.expiresAt.timeIntervalSince(now) * 10).rounded() / 10
            } else {
                o["route"] = routed.contains(id.key) ? "moved" : "expired"
            }
            return o
        }
        return JSONResponse.ok(["streams": list])
    }
}

/// The proxy's own ids in SRS's style, made once per process.
final class ProxyIdentity: Sendable {
    let server = "proxy-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    let service = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    private let seen = Mutex<Set<Backend.ID>>([])

    /// True the first time a backend id is seen (for the "registered" log line). At most
    /// 2 x `limit` ids are remembered: past that the set starts over (a few lines logged again).
    func noteBackend(_ id: Backend.ID, limit: Int) -> Bool {
        seen.withLock { seen in
            if seen.count >= 2 * limit { seen.removeAll(keepingCapacity: true) }
            return seen.insert(id).inserted
        }
    }
}

enum ISO8601 {
    static func string(_ date: Date) -> String { date.formatted(.iso8601) }
}
