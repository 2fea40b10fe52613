@testable import Host

/// Loads configuration text as the file `proxy.yaml` (the name the error messages carry).
enum ConfigText {
    static func load(_ yaml: String, env: [String: String] = [:]) throws(ConfigError) -> LoadedConfig {
        try ConfigLoader(file: "proxy.yaml", environment: env).load(yaml: yaml)
    }

    /// The error message `yaml` loads with, or "loaded without error".
    static func failure(_ yaml: String, env: [String: String] = [:]) -> String {
        do {
            _ = try load(yaml, env: env)
            return "loaded without error"
        } catch {
            return error.description
        }
    }
}
