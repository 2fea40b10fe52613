/// What a protocol module is called and what it dials, declared by the module itself: the host
/// keeps no table keyed by module names. The name is its key under `modules:` in proxy.yaml, the
/// `protocol` of its hook requests and its name in the commands API; the scheme is the URL scheme
/// of its clients (a hook's `tcUrl`); the endpoint kinds are what its sessions need from a backend.
public struct ModuleIdentity: Sendable, Hashable {
    public var name: String
    public var scheme: String
    public var dials: [EndpointKind]

    public init(name: String, scheme: String, dials: [EndpointKind]) {
        self.name = name
        self.scheme = scheme
        self.dials = dials
    }
}
