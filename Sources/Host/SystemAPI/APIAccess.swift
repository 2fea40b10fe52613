import Hummingbird
import NIOCore

/// Who may register origins and read the lists that name clients (`/api/v1/origins`,
/// `/api/v1/streams`) on the system API:
///
/// - with `system_api.register_token` set, a register must present it (`?token=`, as SRS 5-7
///   heartbeats carry it in their url, or `Authorization: Bearer`, as SRS 8 sends it): 401 without;
/// - without a token, registrations come from loopback or a network `system_api.allow` lists:
///   403 naming both settings from anywhere else;
/// - the read endpoints are open to loopback, `system_api.allow` and the token.
///
/// A register that presented the token is *authenticated*: only such a register may move a live
/// origin to another ip (the check is the register handler's).
struct APIAccess: Sendable {
    var token: String
    var allow: [IPNetwork]

    enum Grant: Equatable {
        /// The request presented the token.
        case token
        /// The request came from loopback or an allowed network.
        case address
    }

    /// The token a request presents: `?token=` or `Authorization: Bearer`.
    static func presentedToken(_ request: Request) -> String? {
        if let token = request.uri.queryParameters["token"] { return String(token) }
        if let value = request.headers[.authorization], let auth = AuthorizationHeader(value), auth.scheme == "bearer" {
            return auth.credentials
        }
        return nil
    }

    private func tokenMatches(_ request: Request) -> Bool {
        guard !token.isEmpty, let presented = Self.presentedToken(request) else { return false }
        return ConstantTime.equal(presented, token)
    }

    private func trusted(_ peer: SocketAddress?) -> Bool {
        guard let peer else { return false }
        return IPNetwork.isLoopback(peer) || allow.contains { $0.contains(peer) }
    }

    /// May this request register (or heartbeat) an origin?
    func register(_ request: Request, from peer: SocketAddress?) throws(APIError) -> Grant {
        if !token.isEmpty {
            guard tokenMatches(request) else {
                throw APIError(.unauthorized, "register needs a valid token (?token= or Authorization: Bearer; system_api.register_token)")
            }
            return .token
        }
        guard trusted(peer) else {
            throw APIError(
                .forbidden,
                "registration from \(peer?.ipAddress ?? "an unknown address") refused: without system_api.register_token only loopback and the networks in system_api.allow may register")
        }
        return .address
    }

    /// May this request read the lists that name clients and origins?
    func read(_ request: Request, from peer: SocketAddress?) throws(APIError) {
        if trusted(peer) || tokenMatches(request) { return }
        throw APIError(
            .forbidden,
            "reading this list from \(peer?.ipAddress ?? "an unknown address") needs system_api.register_token (Bearer or ?token=) or an address in system_api.allow")
    }
}
