/// A configuration problem, reported as one line naming where it is (file:line:column, or the
/// environment variable that set it), the key, and what is allowed. The process exits with 2.
struct ConfigError: Error, CustomStringConvertible {
    var location: String
    var key: String
    var message: String

    var description: String {
        key.isEmpty ? "\(location): \(message)" : "\(location): \(key): \(message)"
    }
}
