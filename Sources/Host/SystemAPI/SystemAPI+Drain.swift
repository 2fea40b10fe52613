import Foundation
import Hummingbird
import ProxyCore

/// `POST /api/v1/origins/{id}/drain` and `DELETE` of it: maintenance of one origin, authenticated
/// like registration (the register token, or loopback and `system_api.allow` without one). The
/// state is the registry's (OriginDrain), so every proxy on it honours it within a second; this
/// proxy's routers read it again at once.
extension SystemAPI {
    static let drainPath = "/api/v1/origins/:id/drain"

    func drain(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        _ = try current.access.register(request, from: context.remoteAddress)
        let id = try originID(context)
        var request = request
        let grace = try DrainRequestBody.parse(Data(buffer: try await request.collectBody(upTo: 4096)))
        let store = try drainStore()
        guard try await registry.backends().contains(where: { $0.backend.id == id }) else {
            throw APIError(.notFound, "no origin \(id.rawValue.prefix(200)) is registered")
        }
        guard let drain = try await store.drain(id, grace: grace) else {
            throw APIError(.serviceUnavailable, "\(OriginDrainLimits.maxDrains) origins are drained already")
        }
        for router in routers { await router.reloadDrains() }
        logger.info("origin drain set", metadata: [
            "backend": "\(id)", "grace_s": "\(grace.map { "\($0.seconds)" } ?? "none")", "client": "\(context.remoteAddress?.ipAddress ?? "")",
        ])
        var body = Self.drainJSON(drain)
        body["origin"] = id.rawValue
        return JSONResponse.ok(body)
    }

    func undrain(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        _ = try current.access.register(request, from: context.remoteAddress)
        let id = try originID(context)
        let store = try drainStore()
        let was = try await store.undrain(id)
        if !was, try await !registry.backends().contains(where: { $0.backend.id == id }) {
            throw APIError(.notFound, "no origin \(id.rawValue.prefix(200)) is registered or drained")
        }
        for router in routers { await router.reloadDrains() }
        if was { logger.info("origin drain ended", metadata: ["backend": "\(id)", "client": "\(context.remoteAddress?.ipAddress ?? "")"]) }
        return JSONResponse.ok(["origin": id.rawValue, "draining": false, "was_draining": was])
    }

    /// The `draining`, `drain_since` and `drain_close_at` fields of an origin.
    static func drainJSON(_ drain: OriginDrain?) -> [String: Any] {
        guard let drain else { return ["draining": false] }
        var o: [String: Any] = ["draining": true, "drain_since": ISO8601.string(drain.since)]
        if let close = drain.closeAt { o["drain_close_at"] = ISO8601.string(close) }
        return o
    }

    private func originID(_ context: APIRequestContext) throws(APIError) -> Backend.ID {
        // The router hands the segment over as sent: ids are percent-decoded here.
        guard let raw = context.parameters.get("id"), let id = raw.removingPercentEncoding, !id.isEmpty, id.utf8.count <= 1024 else {
            throw APIError(.badRequest, "expected an origin id (server-service-pid) in the path")
        }
        return Backend.ID(id)
    }

    private func drainStore() throws(APIError) -> any OriginDrains {
        guard let store = registry as? any OriginDrains else { throw APIError(.notImplemented, "this registry keeps no drain states") }
        return store
    }
}
