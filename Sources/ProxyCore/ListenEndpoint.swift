import Foundation

/// An address a server listens on or a backend announces, in every form SRS and the proxy use:
/// `1935`, `0.0.0.0:1935`, `tcp://:1935`, `udp://0.0.0.0:10080`, `[::]:1935`, `udp://[::1]:8000`.
///
/// `host` is nil when the form names no host or the IPv4 wildcard (`0.0.0.0`, `*`): "any IPv4
/// address". `::` is kept, so `[::]:1935` binds every IPv6 (and, on Linux, IPv4) address.
public struct ListenEndpoint: Hashable, Sendable, CustomStringConvertible {
    public enum Transport: String, Sendable, CaseIterable {
        case tcp, udp
    }

    /// The scheme when one was written (`tcp://`, `udp://`), else nil.
    public var transport: Transport?
    /// The host, without brackets; nil means any address.
    public var host: String?
    /// 0...65535; 0 asks the system for a free port (used by tests).
    public var port: Int

    public init(transport: Transport? = nil, host: String? = nil, port: Int) {
        self.transport = transport
        self.host = host
        self.port = port
    }

    /// Parses any of the accepted forms; throws a message naming what is wrong.
    public init(parsing text: String) throws(ListenEndpointError) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { throw .empty }
        guard rest.utf8.count <= 300 else { throw .invalid(String(text.prefix(40)) + "...", "too long") }

        var transport: Transport?
        if let schemeEnd = rest.range(of: "://") {
            let scheme = rest[rest.startIndex..<schemeEnd.lowerBound].lowercased()
            guard let t = Transport(rawValue: scheme) else {
                throw .invalid(text, "unknown scheme '\(scheme)' (allowed: tcp, udp)")
            }
            transport = t
            rest = rest[schemeEnd.upperBound...]
        }

        var host: String?
        let portText: Substring
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]") else { throw .invalid(text, "missing ']' after IPv6 address") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let afterBracket = rest[rest.index(after: close)...]
            guard afterBracket.first == ":" else { throw .invalid(text, "missing ':port' after ']'") }
            portText = afterBracket.dropFirst()
        } else if let colon = rest.lastIndex(of: ":") {
            let hostPart = rest[rest.startIndex..<colon]
            guard !hostPart.contains(":") else { throw .invalid(text, "IPv6 addresses need brackets, as in [::1]:1935") }
            host = hostPart.isEmpty ? nil : String(hostPart)
            portText = rest[rest.index(after: colon)...]
        } else {
            portText = rest
        }

        guard !portText.isEmpty, portText.allSatisfy(\.isASCIIDigit), let port = Int(portText), port <= 65535 else {
            throw .invalid(text, "port must be a number from 0 to 65535")
        }
        if let h = host, h == "0.0.0.0" || h == "*" { host = nil }
        if let h = host, !Self.isPlausibleHost(h) { throw .invalid(text, "'\(h)' is not a host name or IP address") }
        self.init(transport: transport, host: host, port: port)
    }

    /// The host to bind when listening: the named host or the IPv4 wildcard.
    public var bindHost: String { host ?? "0.0.0.0" }

    /// The host to dial, or nil when the endpoint names a wildcard (dial the backend's ip instead).
    public var dialHost: String? { host == "::" ? nil : host }

    public var description: String {
        var text = transport.map { "\($0.rawValue)://" } ?? ""
        switch host {
        case .none: text += transport == nil ? "" : ""
        case .some(let h) where h.contains(":"): text += "[\(h)]"
        case .some(let h): text += h
        }
        if host != nil || transport != nil { text += ":" }
        return text + String(port)
    }

    private static func isPlausibleHost(_ host: String) -> Bool {
        !host.isEmpty && host.utf8.count <= 253
            && host.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_:%".unicodeScalars.contains($0)) }
    }
}

public enum ListenEndpointError: Error, Equatable, CustomStringConvertible {
    case empty
    case invalid(String, String)

    public var description: String {
        switch self {
        case .empty: "empty endpoint (use a port, ip:port or proto://ip:port)"
        case .invalid(let text, let why): "invalid endpoint '\(text)': \(why)"
        }
    }
}

extension ListenEndpoint: Codable {
    /// Decodes from a port number or any accepted string form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let port = try? container.decode(Int.self) {
            guard (0...65535).contains(port) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "invalid port \(port) (allowed: 0-65535)")
            }
            self.init(port: port)
            return
        }
        let text: String
        do { text = try container.decode(String.self) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a port or an endpoint such as 1935, 0.0.0.0:1935, udp://:8000")
        }
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
