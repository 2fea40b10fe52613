import Foundation

/// An `Authorization` header value split into its scheme (lowercased) and credentials, for the
/// system API's Bearer token and the commands API's Basic and Bearer checks. Split at the space
/// byte, not at a Character: a space followed by a combining mark is one Character, and
/// credentials that start with one would never split off the scheme.
struct AuthorizationHeader: Equatable {
    var scheme: String
    var credentials: String

    init?(_ value: String) {
        let words = value.utf8.split(separator: UInt8(ascii: " "), maxSplits: 1, omittingEmptySubsequences: true)
        guard words.count == 2, let scheme = String(words[0]), let rest = String(words[1]) else { return nil }
        self.scheme = scheme.lowercased()
        self.credentials = rest.trimmingCharacters(in: .whitespaces)
    }
}
