import Foundation
import Logging
import NIOCore
import ProxyCore
import ProxyNet
import ServiceLifecycle

/// Runs the active health checks (`registry.health_check`): every `interval`, each endpoint of
/// each alive origin that an enabled module probes (HealthProbing), at most `concurrency` checks
/// at once, each within `timeout`. Results go to BackendHealth, which the routers consult. With
/// a registry that shares health views (Redis), this proxy publishes its view and reads the
/// others' every `viewInterval` (checks and views apart, so a change another proxy saw counts
/// here within half a second, not a whole round later), and placement follows the majority of
/// proxies (BackendHealth).
struct HealthCheckService: Service {
    var config: HealthCheckConfig
    var registry: any Registry
    var health: BackendHealth
    var probes: [EndpointKind: any EndpointProbe]
    var proxyID: String
    var group: any EventLoopGroup
    var logger: Logger
    /// `registry.health_check` as a reload last applied it (interval, timeout, fall, rise); read
    /// per round.
    var live: Live<HealthCheckConfig>?
    var settings: HealthCheckConfig { live?.value ?? config }
    /// Checks running at once, at most.
    static let concurrency = 64

    /// How often the shared views are published and read.
    var viewInterval: Duration { min(settings.interval.duration / 2, .milliseconds(500)) }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                if let store = registry as? any HealthViewStore { group.addTask { await shareViews(store) } }
                await checks()
            }
        }
    }

    /// Publishes this proxy's view and reads the others' until cancelled; a failure waits longer.
    private func shareViews(_ store: any HealthViewStore) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await store.publishHealthView(health.view(proxy: proxyID), ttl: settings.interval.duration * 3 + settings.timeout.duration)
                health.setOthers(try await store.liveHealthViews().filter { $0.proxy != proxyID })
                failures = 0
            } catch {
                failures += 1
            }
            try? await Task.sleep(for: failures == 0 ? viewInterval : .seconds(1 << min(failures - 1, 3)))
        }
    }

    private func checks() async {
        var failures = 0
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                try await round()
                if failures > 0 { logger.notice("health checks read the registry again") }
                failures = 0
            } catch {
                if failures == 0 { logger.warning("health checks cannot read the registry", metadata: ["error": "\(error)"]) }
                failures += 1
            }
            // While the registry fails, the next round waits 1, 2, 4, then 8 s more.
            let pause = failures == 0 ? Duration.zero : .seconds(1 << min(failures - 1, 3))
            try? await Task.sleep(until: started + settings.interval.duration + pause)
        }
    }

    /// One round: check every endpoint.
    func round() async throws {
        let backends = try await registry.aliveBackends()
        health.retain(Set(backends.map(\.id)))
        var work: [(HealthKey, BackendAddress, any EndpointProbe)] = []
        for backend in backends {
            for kind in EndpointKind.allCases {
                guard let probe = probes[kind], let address = backend.address(for: kind) else { continue }
                work.append((HealthKey(backend.id, kind), address, probe))
            }
        }
        let timeout = settings.timeout.duration
        await withTaskGroup(of: (HealthKey, String, String?).self) { group in
            var next = work.makeIterator()
            func add() -> Bool {
                guard let (key, address, probe) = next.next() else { return false }
                group.addTask { [group = self.group] in
                    do {
                        try await probe.check(address, timeout: timeout, group: group)
                        return (key, probe.name, nil)
                    } catch {
                        return (key, probe.name, "\(error)")
                    }
                }
                return true
            }
            for _ in 0..<Self.concurrency where add() {}
            for await (key, name, error) in group {
                note(key, probe: name, error: error)
                _ = add()
            }
        }
    }

    private func note(_ key: HealthKey, probe: String, error: String?) {
        switch health.record(key, ok: error == nil, error: error) {
        case .down(let why)?:
            logger.warning("backend endpoint failed its health checks: no new sessions", metadata: [
                "backend": "\(key.backend)", "protocol": "\(key.kind.rawValue)", "check": "\(probe)", "fall": "\(settings.fall)", "error": "\(why)",
            ])
        case .up?:
            logger.notice("backend endpoint passed its health checks again", metadata: [
                "backend": "\(key.backend)", "protocol": "\(key.kind.rawValue)", "check": "\(probe)", "rise": "\(settings.rise)",
            ])
        case nil:
            if let error { logger.debug("health check failed", metadata: ["backend": "\(key.backend)", "protocol": "\(key.kind.rawValue)", "error": "\(error)"]) }
        }
    }
}
