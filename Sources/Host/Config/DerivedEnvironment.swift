/// Environment variables whose keys depend on other variables: the streaming coordinator's
/// commands API, TLS and control secret, and SRS proxy's API auth switch. Turned into settings
/// before the file is decoded, like EnvironmentOverrides; a combination that cannot apply is an
/// error naming the variable. Listed in docs/configuration.md.
enum DerivedEnvironment {
    struct Setting: Equatable {
        var variable: String
        var path: [String]
        var value: String
    }

    /// Every variable read here (and LOG_DEBUG, read by the command): with EnvironmentOverrides'
    /// table, what the binary takes from the environment (the deployment kit is checked against it).
    static let variables = [
        "PROXY_HTTP_API_AUTH_ENABLED", "PROXY_HTTP_API_AUTH_TYPE", "PROXY_HTTP_API_AUTH_TOKEN", "CONTROL_SECRET", "PROXY_ORIGIN_SERVER_TTL",
        "COMMANDS_API_AUTH", "COMMANDS_API_AUTH_USER", "COMMANDS_API_AUTH_PASSWORD", "COMMANDS_API_AUTH_TOKEN", "HTTP_PORT", "SSL_PORT",
        "SSL_CERT", "SSL_KEY", "SSL_CHECK_RELOAD_SECONDS", "LOG_REQUESTS", "LOG_DEBUG", "BIND_ADDRESS",
    ]

    /// Every environment variable the binary reads.
    static var allVariables: Set<String> { Set(variables + EnvironmentOverrides.table.map(\.variable)) }

    static func settings(_ env: [String: String]) throws(ConfigError) -> [Setting] {
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        func fail(_ variable: String, _ message: String) -> ConfigError {
            ConfigError(location: "environment variable \(variable)", key: "", message: message)
        }
        var out: [Setting] = []

        // SRS proxy: the system API's bearer token (registration).
        var registerToken: (variable: String, value: String)?
        if let enabled = value("PROXY_HTTP_API_AUTH_ENABLED") {
            guard let on = Self.flag(enabled) else { throw fail("PROXY_HTTP_API_AUTH_ENABLED", "expected on or off, got '\(enabled.prefix(40))'") }
            if on {
                guard let type = value("PROXY_HTTP_API_AUTH_TYPE") else {
                    throw fail("PROXY_HTTP_API_AUTH_TYPE", "must be set (bearer) when PROXY_HTTP_API_AUTH_ENABLED is on")
                }
                guard type.lowercased() == "bearer" else { throw fail("PROXY_HTTP_API_AUTH_TYPE", "'\(type.prefix(40))': the proxy's API only supports bearer") }
                guard let token = value("PROXY_HTTP_API_AUTH_TOKEN") else {
                    throw fail("PROXY_HTTP_API_AUTH_TOKEN", "must be set when PROXY_HTTP_API_AUTH_ENABLED is on")
                }
                registerToken = ("PROXY_HTTP_API_AUTH_TOKEN", token)
            }
        }
        // The coordinator: the secret origins present when they register.
        if let secret = value("CONTROL_SECRET") {
            if let other = registerToken, other.value != secret {
                throw fail("CONTROL_SECRET", "differs from PROXY_HTTP_API_AUTH_TOKEN: both set the registration token")
            }
            registerToken = ("CONTROL_SECRET", secret)
        }
        if let token = registerToken { out.append(Setting(variable: token.variable, path: ["system_api", "register_token"], value: token.value)) }

        if let ttl = value("PROXY_ORIGIN_SERVER_TTL") {
            // SRS proxy writes seconds; a duration with its unit is taken as it is.
            out.append(Setting(variable: "PROXY_ORIGIN_SERVER_TTL", path: ["registry", "backend_alive"], value: ttl.allSatisfy(\.isNumber) ? ttl + "s" : ttl))
        }

        // The coordinator's commands API: its auth, and HTTP_PORT or SSL_PORT serve it.
        let commands = ["commands_api"]
        if let auth = value("COMMANDS_API_AUTH") {
            switch auth.lowercased() {
            case "basic":
                guard let user = value("COMMANDS_API_AUTH_USER") else { throw fail("COMMANDS_API_AUTH_USER", "must be set for COMMANDS_API_AUTH=Basic") }
                guard let password = value("COMMANDS_API_AUTH_PASSWORD") else {
                    throw fail("COMMANDS_API_AUTH_PASSWORD", "must be set for COMMANDS_API_AUTH=Basic")
                }
                out.append(Setting(variable: "COMMANDS_API_AUTH_USER", path: commands + ["auth", "basic", "username"], value: user))
                out.append(Setting(variable: "COMMANDS_API_AUTH_PASSWORD", path: commands + ["auth", "basic", "password"], value: password))
            case "bearer":
                guard let token = value("COMMANDS_API_AUTH_TOKEN") else { throw fail("COMMANDS_API_AUTH_TOKEN", "must be set for COMMANDS_API_AUTH=Bearer") }
                out.append(Setting(variable: "COMMANDS_API_AUTH_TOKEN", path: commands + ["auth", "bearer", "token"], value: token))
            default:
                throw fail("COMMANDS_API_AUTH", "'\(auth.prefix(40))' (allowed: Basic, Bearer)")
            }
        }
        let http = value("HTTP_PORT"), ssl = value("SSL_PORT")
        if http != nil && ssl != nil { throw fail("HTTP_PORT", "the commands API serves on one port: set HTTP_PORT or SSL_PORT, not both") }
        if let port = http ?? ssl {
            let variable = http != nil ? "HTTP_PORT" : "SSL_PORT"
            guard value("COMMANDS_API_AUTH") != nil else {
                throw fail("COMMANDS_API_AUTH", "must be Basic or Bearer when \(variable) serves the commands API (it is never served unauthenticated from the environment)")
            }
            out.append(Setting(variable: variable, path: commands + ["enabled"], value: "true"))
            out.append(Setting(variable: variable, path: commands + ["listen"], value: port))
            if ssl != nil {
                guard let cert = value("SSL_CERT") else { throw fail("SSL_CERT", "must be set with SSL_PORT") }
                guard let key = value("SSL_KEY") else { throw fail("SSL_KEY", "must be set with SSL_PORT") }
                out.append(Setting(variable: "SSL_CERT", path: commands + ["tls", "cert"], value: cert))
                out.append(Setting(variable: "SSL_KEY", path: commands + ["tls", "key"], value: key))
                if let seconds = value("SSL_CHECK_RELOAD_SECONDS") {
                    guard let n = Int(seconds), n > 0 else { throw fail("SSL_CHECK_RELOAD_SECONDS", "expected a whole number of seconds above 0") }
                    out.append(Setting(variable: "SSL_CHECK_RELOAD_SECONDS", path: commands + ["tls", "reload_check"], value: "\(n)s"))
                }
            }
        }
        if ssl == nil {
            for name in ["SSL_CERT", "SSL_KEY", "SSL_CHECK_RELOAD_SECONDS"] where value(name) != nil {
                throw fail(name, "applies only with SSL_PORT (the commands API over HTTPS)")
            }
        }
        // The coordinator's request log switch.
        if let requests = value("LOG_REQUESTS") {
            guard let on = Self.flag(requests) else { throw fail("LOG_REQUESTS", "expected YES or NO, got '\(requests.prefix(40))'") }
            out.append(Setting(variable: "LOG_REQUESTS", path: ["log", "requests"], value: on ? "true" : "false"))
        }
        if value("COMMANDS_API_AUTH") == nil {
            for name in ["COMMANDS_API_AUTH_USER", "COMMANDS_API_AUTH_PASSWORD", "COMMANDS_API_AUTH_TOKEN"] where value(name) != nil {
                throw fail(name, "applies only with COMMANDS_API_AUTH (Basic or Bearer)")
            }
        }
        return out
    }

    /// on/off, true/false, yes/no, 1/0 (any case).
    static func flag(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "on", "true", "yes", "1": true
        case "off", "false", "no", "0": false
        default: nil
        }
    }
}
