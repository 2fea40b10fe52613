import Foundation
import Hummingbird
import NIOCore
import ProxyCore

/// The status page (`GET /console/`, Console/console.html embedded in the binary) and what it
/// reads besides the origins and streams: `GET /api/v1/proxies`, every proxy's shared figures.
/// Both follow the read APIs' access rules.
extension SystemAPI {
    /// The page, read once from the embedded bytes.
    static let consolePage = ByteBuffer(bytes: PackageResources.console_html)

    func consoleResponse(_ request: Request, _ context: APIRequestContext) throws -> Response {
        try current.access.read(request, from: context.remoteAddress)
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                // Nothing but the page itself and the APIs beside it.
                .contentSecurityPolicy: "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'",
                .xContentTypeOptions: "nosniff",
            ],
            body: ResponseBody(byteBuffer: Self.consolePage))
    }

    /// Every live proxy's figures as shared through the registry (this proxy's within a second or
    /// two): per stream, backend and module, its publishers, players and bytes.
    func proxies(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        try current.access.read(request, from: context.remoteAddress)
        let all = try await (registry as? any SessionCountStore)?.liveSessionCounts() ?? []
        let list: [[String: Any]] = all.sorted { $0.proxy < $1.proxy }.map { c in
            let entries = c.entries.sorted { ($0.key, $0.module) < ($1.key, $1.module) }
            return [
                "proxy": c.proxy, "self": c.proxy == identity.server, "updated": ISO8601.string(c.updatedAt),
                "publishers": entries.reduce(0) { $0 &+ $1.publishers }, "players": entries.reduce(0) { $0 &+ $1.players },
                "bytes_from_clients": entries.reduce(UInt64(0)) { $0 &+ $1.bytesFromClients },
                "bytes_to_clients": entries.reduce(UInt64(0)) { $0 &+ $1.bytesToClients },
                "streams": entries.map { e in
                    [
                        "key": e.key.description, "backend": e.backend.rawValue, "module": e.module, "protocol": e.kind.rawValue,
                        "publishers": e.publishers, "players": e.players,
                        "bytes_from_clients": e.bytesFromClients, "bytes_to_clients": e.bytesToClients,
                    ] as [String: Any]
                },
            ]
        }
        return JSONResponse.ok(["proxies": list, "proxy": identity.server])
    }
}
