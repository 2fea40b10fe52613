import Foundation
import Hummingbird
import ProxyCore

/// `GET /healthz` and `GET /readyz`, for load balancers and Kubernetes. Open to everyone like
/// `/api/v1/versions`: they tell nothing but whether to send traffic here.
struct Probes: Sendable {
    var registry: any Registry
    /// True from the first SIGTERM/SIGINT on (the grace period and the drain follow it).
    var shuttingDown: @Sendable () -> Bool

    /// The process serves: never depends on the registry or the origins.
    func health() -> Response {
        JSONResponse.ok(["status": "ok"])
    }

    /// Whether new sessions can be placed: not shutting down, the registry answers, and at least
    /// one origin is alive. 503 names the first reason that fails.
    func readiness() async -> Response {
        if shuttingDown() { return notReady("shutting down") }
        let alive: Int
        do {
            alive = try await registry.backends().filter(\.alive).count
        } catch {
            return notReady("registry unreachable: \(error)")
        }
        guard alive > 0 else { return notReady("no alive origin") }
        return JSONResponse.ok(["ready": true, "alive_origins": alive])
    }

    private func notReady(_ reason: String) -> Response {
        JSONResponse.ok(["ready": false, "reason": reason, "code": 503], status: .serviceUnavailable)
    }
}
