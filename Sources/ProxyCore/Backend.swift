import Foundation

/// A registered origin server. Its identity is SRS's `server-service-pid`, so a restarted
/// origin (new service id and pid) is a new backend.
public struct Backend: Sendable, Hashable, Codable {
    public struct ID: RawRepresentable, Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
        public static func < (a: ID, b: ID) -> Bool { a.rawValue < b.rawValue }
    }

    public var server: String
    public var service: String
    public var pid: String
    /// The address the proxy dials; endpoints without their own host use it.
    public var ip: String
    public var deviceID: String?
    /// Announced endpoints per kind, in the order the origin listed them.
    public var endpoints: [EndpointKind: [ListenEndpoint]]
    /// The origin's `summaries` object as JSON text, when it sent one.
    public var summaries: String?
    /// Weight, capacity and reported load (Placement.swift); nil when it registered none.
    public var placement: BackendPlacement?
    /// The PROXY protocol version its RTMP endpoint expects (`off`, `v1`, `v2`), as it
    /// registered it; nil: the module's `proxy_protocol`.
    public var proxyProtocol: String?

    public init(
        server: String, service: String, pid: String, ip: String, deviceID: String? = nil,
        endpoints: [EndpointKind: [ListenEndpoint]], summaries: String? = nil, placement: BackendPlacement? = nil
    ) {
        self.placement = placement
        self.server = server
        self.service = service
        self.pid = pid
        self.ip = ip
        self.deviceID = deviceID
        self.endpoints = endpoints
        self.summaries = summaries
    }

    public var id: ID { ID("\(server)-\(service)-\(pid)") }

    public func exposes(_ kind: EndpointKind) -> Bool { !(endpoints[kind] ?? []).isEmpty }

    /// Where to reach this backend for `kind`: the first endpoint of that kind, with the
    /// backend's ip when the endpoint names no host (or a wildcard).
    public func address(for kind: EndpointKind) -> BackendAddress? {
        guard let endpoint = endpoints[kind]?.first else { return nil }
        return BackendAddress(host: endpoint.dialHost ?? ip, port: endpoint.port)
    }
}

/// A host and port to dial.
public struct BackendAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A backend as the registry knows it: when it was last heard from and whether that is recent enough.
public struct BackendRecord: Sendable, Hashable {
    public var backend: Backend
    public var lastSeen: Date
    public var alive: Bool
    /// The gap between its last two heartbeats (its cadence), once it sent two.
    public var heartbeatInterval: TimeInterval?
    public init(backend: Backend, lastSeen: Date, alive: Bool, heartbeatInterval: TimeInterval? = nil) {
        self.backend = backend
        self.lastSeen = lastSeen
        self.alive = alive
        self.heartbeatInterval = heartbeatInterval
    }
}
