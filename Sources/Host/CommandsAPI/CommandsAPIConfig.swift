import ProxyCore

/// `commands_api:` the operators' API (capacity, close, report). Off by default; when on it
/// must say how clients authenticate: `basic` and/or `bearer`, or explicitly `none: true`.
struct CommandsAPIConfig: Decodable, Sendable {
    var enabled = false
    var listen = ListenEndpoint(port: 12026)
    var auth = CommandsAuthConfig()
    /// HTTPS with these PEM files; plain HTTP when absent.
    var tls: APITLSConfig?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, listen, auth, tls
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CommandsAPIConfig()
        enabled = try c.decode(Bool.self, forKey: .enabled, default: d.enabled)
        listen = try c.decodeListen(.listen, default: d.listen, over: .tcp, "the commands API")
        auth = try c.decode(CommandsAuthConfig.self, forKey: .auth, default: d.auth)
        tls = try c.decodeIfPresent(APITLSConfig.self, forKey: .tls)
        if enabled && !auth.isConfigured {
            throw c.invalid(.auth, "the commands API needs authentication: give basic: { username, password } and/or bearer: { token }, or none: true to serve it without any")
        }
    }
}

/// `commands_api.auth:` Basic and/or Bearer credentials (either is accepted), or `none: true`.
struct CommandsAuthConfig: Decodable, Sendable {
    struct Basic: Decodable, Sendable {
        var username: String
        var password: String

        enum CodingKeys: String, CodingKey, CaseIterable {
            case username, password
        }

        init(username: String, password: String) {
            self.username = username
            self.password = password
        }

        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            username = try c.decode(String.self, forKey: .username)
            guard !username.isEmpty, !username.contains(":") else { throw c.invalid(.username, "must be non-empty and without ':'") }
            password = try c.decode(String.self, forKey: .password)
            guard !password.isEmpty else { throw c.invalid(.password, "must not be empty (use ${VAR} to take it from the environment)") }
        }
    }

    struct Bearer: Decodable, Sendable {
        var token: String

        enum CodingKeys: String, CodingKey, CaseIterable {
            case token
        }

        init(token: String) {
            self.token = token
        }

        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            token = try c.decode(String.self, forKey: .token)
            guard !token.isEmpty else { throw c.invalid(.token, "must not be empty (use ${VAR} to take it from the environment)") }
        }
    }

    var basic: Basic?
    var bearer: Bearer?
    /// Serve without authentication (only when asked for explicitly).
    var none = false

    enum CodingKeys: String, CodingKey, CaseIterable {
        case basic, bearer, none
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        basic = try c.decodeIfPresent(Basic.self, forKey: .basic)
        bearer = try c.decodeIfPresent(Bearer.self, forKey: .bearer)
        none = try c.decode(Bool.self, forKey: .none, default: false)
        if none && (basic != nil || bearer != nil) { throw c.invalid(.none, "none: true cannot be combined with basic or bearer") }
    }

    var isConfigured: Bool { none || basic != nil || bearer != nil }
}
