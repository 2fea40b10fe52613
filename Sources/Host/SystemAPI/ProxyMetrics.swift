import Foundation
import ProxyCore
import ProxyNet

/// The values of `GET /metrics`, all computed at scrape time from state the proxy keeps anyway:
/// the routers' sessions (and their totals of ended sessions), the registry's routes and
/// backends, the hooks' counters, and whatever each running module reports (MetricsReporting).
struct ProxyMetrics: Sendable {
    static let prefix = "stream_proxy_"

    var registry: any Registry
    var routers: [Router]
    /// Running modules by name; those that conform to MetricsReporting add their samples.
    var modules: [(name: String, reporter: (any MetricsReporting)?)]
    var hookCounters: HookCounters?
    var startedAt: Date
    /// The endpoints' health checks, when on.
    var health: BackendHealth?

    func render() async -> [UInt8] {
        PrometheusExposition.render(await samples(), prefix: Self.prefix)
    }

    func samples() async -> [MetricSample] {
        var out: [MetricSample] = [
            MetricSample(
                name: "build_info", help: "Always 1; the labels name the build.", kind: .gauge,
                labels: [.init("name", ProxyVersion.name), .init("version", ProxyVersion.string)], value: 1),
            MetricSample(
                name: "process_start_time_seconds", help: "When the proxy process started, in seconds since the Unix epoch.",
                kind: .gauge, value: startedAt.timeIntervalSince1970.rounded()),
        ]
        out += await sessionSamples()
        out += await registrySamples()
        if let hookCounters { out += Self.hookSamples(hookCounters) }
        if let health { out += Self.healthSamples(health) }
        for module in modules {
            if let reporter = module.reporter { out += await reporter.metricSamples() }
        }
        return out
    }

    /// Open sessions, ended sessions and client bytes per module (and role), summed over routers.
    private func sessionSamples() async -> [MetricSample] {
        var open: [EndedSessions.Key: Int] = [:]
        var bytes: [String: (from: UInt64, to: UInt64)] = [:]
        var ended: [EndedSessions.Key: UInt64] = [:]
        // Every enabled module shows up with zeros before its first session.
        for m in modules {
            for role in SessionRole.allCases { open[.init(module: m.name, role: role)] = 0 }
            bytes[m.name] = (0, 0)
        }
        var localRoutes = 0
        var redispatches: UInt64 = 0
        for router in routers {
            let snapshot = await router.sessionSnapshot()
            redispatches += await router.redispatches
            localRoutes += snapshot.routes.count
            for (key, e) in snapshot.ended {
                ended[key, default: 0] += e.sessions
                bytes[key.module, default: (0, 0)].from &+= e.bytesFromClients
                bytes[key.module, default: (0, 0)].to &+= e.bytesToClients
                open[key, default: 0] += 0
            }
            for route in snapshot.routes {
                for c in route.clients {
                    open[.init(module: c.module, role: c.role), default: 0] += 1
                    bytes[c.module, default: (0, 0)].from &+= c.bytesFromClient
                    bytes[c.module, default: (0, 0)].to &+= c.bytesToClient
                }
            }
        }
        let keys = open.keys.sorted { ($0.module, $0.role.rawValue) < ($1.module, $1.role.rawValue) }
        var out: [MetricSample] = keys.map { key in
            MetricSample(
                name: "sessions", help: "Sessions open on this proxy, by module and role.", kind: .gauge,
                labels: [.init("module", key.module), .init("role", key.role.rawValue)], value: Double(open[key]!))
        }
        out += keys.map { key in
            MetricSample(
                name: "sessions_ended_total", help: "Sessions that ended on this proxy, by module and role.", kind: .counter,
                labels: [.init("module", key.module), .init("role", key.role.rawValue)], value: Double(ended[key] ?? 0))
        }
        let names = bytes.keys.sorted()
        out += names.map { name in
            MetricSample(
                name: "client_received_bytes_total", help: "Bytes received from clients (ended and open sessions), by module.",
                kind: .counter, labels: [.init("module", name)], value: Double(bytes[name]!.from))
        }
        out += names.map { name in
            MetricSample(
                name: "client_sent_bytes_total", help: "Bytes sent to clients (ended and open sessions), by module.",
                kind: .counter, labels: [.init("module", name)], value: Double(bytes[name]!.to))
        }
        out.append(MetricSample(
            name: "local_routes", help: "Routes this proxy holds sessions on, or lingers on after its last session.",
            kind: .gauge, value: Double(localRoutes)))
        out.append(MetricSample(
            name: "redispatches_total", help: "Sessions routed again, before their stream started, after their backend could not be reached.",
            kind: .counter, value: Double(redispatches)))
        return out
    }

    /// Live routes and backends as the (possibly shared) registry has them; `registry_up` is 0
    /// when a registry call failed, and the registry's values are then left out.
    private func registrySamples() async -> [MetricSample] {
        do {
            let routes = try await registry.routes()
            let backends = try await registry.backends()
            let drains = try await (registry as? any OriginDrains)?.drains() ?? [:]
            return [
                MetricSample(name: "registry_up", help: "1 when the registry answered this scrape, else 0.", kind: .gauge, value: 1),
                MetricSample(name: "routes", help: "Live routes in the registry (every proxy sharing it).", kind: .gauge, value: Double(routes.count)),
                MetricSample(name: "backends", help: "Backends the registry knows (heard from, not yet forgotten).", kind: .gauge, value: Double(backends.count)),
                MetricSample(
                    name: "backends_alive", help: "Backends heard from within registry.backend_alive.", kind: .gauge,
                    value: Double(backends.filter(\.alive).count)),
                MetricSample(
                    name: "backends_draining", help: "Known backends drained for maintenance (no new streams; POST /api/v1/origins/{id}/drain).",
                    kind: .gauge, value: Double(backends.filter { drains[$0.backend.id] != nil }.count)),
            ]
        } catch {
            return [MetricSample(name: "registry_up", help: "1 when the registry answered this scrape, else 0.", kind: .gauge, value: 0)]
        }
    }

    /// Checked endpoints up and down for placement, and failed checks, by endpoint kind.
    static func healthSamples(_ health: BackendHealth) -> [MetricSample] {
        var up: [EndpointKind: Int] = [:], down: [EndpointKind: Int] = [:]
        for (key, state) in health.snapshot() {
            if state.down { down[key.kind, default: 0] += 1 } else { up[key.kind, default: 0] += 1 }
        }
        let failures = health.failures
        return EndpointKind.allCases.flatMap { kind in
            [
                MetricSample(
                    name: "backend_endpoints_up", help: "Checked backend endpoints that take new sessions, by endpoint kind.", kind: .gauge,
                    labels: [.init("protocol", kind.rawValue)], value: Double(up[kind] ?? 0)),
                MetricSample(
                    name: "backend_endpoints_down", help: "Backend endpoints failing their health checks (no new sessions), by endpoint kind.",
                    kind: .gauge, labels: [.init("protocol", kind.rawValue)], value: Double(down[kind] ?? 0)),
                MetricSample(
                    name: "health_check_failures_total", help: "Failed health checks of backend endpoints on this proxy, by endpoint kind.",
                    kind: .counter, labels: [.init("protocol", kind.rawValue)], value: Double(failures[kind] ?? 0)),
            ]
        }
    }

    static func hookSamples(_ counters: HookCounters) -> [MetricSample] {
        HookCounters.Counter.allCases.map { counter in
            let (name, help): (String, String) =
                switch counter {
                case .queued: ("hook_deliveries_queued_total", "Event deliveries put in the registry's queue (one per event and url).")
                case .delivered: ("hook_deliveries_delivered_total", "Event deliveries a url accepted (HTTP 2xx).")
                case .retried: ("hook_attempts_retried_total", "Failed delivery attempts that were scheduled again.")
                case .dropped: ("hook_deliveries_dropped_total", "Event deliveries given up after hooks retry.max_attempts failed attempts.")
                case .lost: ("hook_deliveries_lost_total", "Event deliveries lost before the queue (queue full or registry failed).")
                }
            return MetricSample(name: name, help: help, kind: .counter, value: Double(counters.value(counter)))
        }
    }
}
