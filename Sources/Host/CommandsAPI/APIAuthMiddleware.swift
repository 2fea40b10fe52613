import Foundation
import Hummingbird
import Logging

/// Authentication for the commands API: `Authorization: Basic` (username and password) and/or
/// `Authorization: Bearer` (a token), as configured; secrets compared in constant time. A
/// request without valid credentials gets a 401 with one `WWW-Authenticate` challenge per
/// accepted scheme.
struct APIAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    var configured: CommandsAuthConfig
    /// The auth a reload last applied; nil: `configured`.
    var live: Live<CommandsAuthConfig>?
    var logger: Logger

    init(auth: CommandsAuthConfig, live: Live<CommandsAuthConfig>? = nil, logger: Logger) {
        configured = auth
        self.live = live
        self.logger = logger
    }
    static var realm: String { "stream-proxy commands" }
    /// Longest Authorization header looked at.
    static var maxHeader: Int { 4096 }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let auth = live?.value ?? configured
        if auth.none { return try await next(request, context) }
        let header = request.headers[.authorization]
        if let header, header.utf8.count <= Self.maxHeader, auth.accepts(header) { return try await next(request, context) }
        let schemes = [auth.basic != nil ? "Basic" : nil, auth.bearer != nil ? "Bearer" : nil].compactMap { $0 }.joined(separator: " or ")
        let message = header == nil ? "authentication required (\(schemes))" : "invalid credentials"
        logger.info("request refused", metadata: ["path": "\(request.uri.path)", "status": "401", "error": "\(message)"])
        var response = JSONResponse.error(.unauthorized, message)
        var challenges: [String] = []
        if auth.basic != nil { challenges.append("Basic realm=\"\(Self.realm)\", charset=\"UTF-8\"") }
        if auth.bearer != nil { challenges.append("Bearer realm=\"\(Self.realm)\"") }
        response.headers[values: .wwwAuthenticate] = challenges
        return response
    }
}

extension CommandsAuthConfig {
    /// Whether an `Authorization` header value carries configured credentials.
    func accepts(_ header: String) -> Bool {
        guard let header = AuthorizationHeader(header) else { return false }
        let credentials = header.credentials
        switch header.scheme {
        case "basic":
            guard let basic, let data = Data(base64Encoded: credentials), let text = String(data: data, encoding: .utf8),
                // The colon searched as a byte: as a Character it can merge with a combining mark
                // that starts the password, and the credentials would never split.
                let colon = text.utf8.firstIndex(of: UInt8(ascii: ":"))
            else { return false }
            // Both compared every time: the time taken says nothing about which one was wrong.
            let user = ConstantTime.equal(String(text[..<colon]), basic.username)
            let password = ConstantTime.equal(String(text[text.utf8.index(after: colon)...]), basic.password)
            return user && password
        case "bearer":
            guard let bearer else { return false }
            return ConstantTime.equal(credentials, bearer.token)
        default:
            return false
        }
    }
}
