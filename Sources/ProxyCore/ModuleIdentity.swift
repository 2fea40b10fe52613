/// What a protocol module is called and what it dials, declared by the module itself: the host
/// keeps no table keyed by module names. The name is its key under `modules:` in proxy.yaml, the
/// `protocol` of its hook requests and its name in the commands API; the scheme is the URL scheme
/// of its clients (a hook's `tcUrl`); the endpoint kinds are what its sessions need from a backend.
public struct ModuleIdentity: Sendable, Hashable {
    public var name: String
    public var scheme: String
    public var dials: [EndpointKind]
    /// Whether the module can publish a stream to its origin under another name than the
    /// client gave (the coordinator format's `origin_name`); others keep the client's name.
    public var renamesStreams: Bool

    public init(name: String, scheme: String, dials: [EndpointKind], renamesStreams: Bool = false) {
        self.name = name
        self.scheme = scheme
        self.dials = dials
        self.renamesStreams = renamesStreams
    }
}
