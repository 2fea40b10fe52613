import Foundation
import ProxyCore

/// How an outgoing hook call authenticates: the `Authorization` header it carries. The
/// coordinator's methods (its `*_AUTH` variables): `Basic` (user and password), `Bearer` (a
/// token), `Custom` (the whole header value), or none. Both hook formats accept every method.
///
///     auth: { type: basic, user: app, password: ${HOOK_PASSWORD} }
///     auth: { type: bearer, token: ${HOOK_TOKEN} }
///     auth: { type: custom, value: "ApiKey 1234" }
enum HookAuth: Sendable, Equatable {
    case none
    case basic(user: String, password: String)
    case bearer(String)
    case custom(String)

    /// The `Authorization` header value; nil for `none`.
    var headerValue: String? {
        switch self {
        case .none: nil
        case .basic(let user, let password): "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        case .bearer(let token): "Bearer \(token)"
        case .custom(let value): value
        }
    }
}

/// `auth:` of a hook in proxy.yaml.
struct HookAuthConfig: Decodable, Sendable {
    var auth = HookAuth.none

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, user, password, token, value
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // The coordinator's variables spell the method `Basic`, `BEARER`...: any case is accepted.
        // Fields another type would use are ignored (a coordinator .env often sets them all).
        let type = try c.decode(String.self, forKey: .type, default: "none").lowercased()
        func text(_ key: CodingKeys) throws -> String {
            let value = try c.decode(String.self, forKey: key, default: "")
            guard !value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else { throw c.invalid(key, "must not contain a line break") }
            return value
        }
        func required(_ key: CodingKeys) throws -> String {
            let value = try text(key)
            guard !value.isEmpty else { throw c.invalid(key, "must be set for type \(type) (use ${VAR} to take it from the environment)") }
            return value
        }
        switch type {
        case "none", "":
            auth = .none
        case "basic":
            let user = try required(.user)
            guard !user.contains(":") else { throw c.invalid(.user, "must not contain ':'") }
            auth = .basic(user: user, password: try text(.password))
        case "bearer":
            auth = .bearer(try required(.token))
        case "custom":
            auth = .custom(try required(.value))
        default:
            throw c.invalid(.type, "unknown auth type '\(type)' (allowed: none, basic, bearer, custom)")
        }
    }
}

extension HookAuthConfig {
    /// A hook's `auth:`, or its older `bearer_token:` (one of the two).
    static func decode<K: CodingKey>(_ c: KeyedDecodingContainer<K>, auth: K, bearerToken: K) throws -> HookAuth {
        let token = try c.decode(String.self, forKey: bearerToken, default: "")
        let configured = try c.decodeIfPresent(HookAuthConfig.self, forKey: auth)?.auth
        if !token.isEmpty {
            guard configured == nil || configured == HookAuth.none else { throw c.invalid(bearerToken, "give either bearer_token or auth, not both") }
            return .bearer(token)
        }
        return configured ?? .none
    }
}
