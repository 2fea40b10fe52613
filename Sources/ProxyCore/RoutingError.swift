/// Why the Router could not give a session a backend. Modules turn these into their protocol's
/// error (an RTMP status, an HTTP 502/503, an SRT rejection).
public enum RoutingError: Error, CustomStringConvertible {
    /// No alive backend exposes the endpoint kind the session needs.
    case noBackend(EndpointKind)
    /// The stream lives on a backend that does not serve this protocol; moving it would split it.
    case backendLacksProtocol(StreamKey, Backend.ID, EndpointKind)
    /// Alive backends expose the kind, but none may take a new stream (drained, or at capacity).
    case noCapacity(EndpointKind, String)
    /// The registry could not be read or written.
    case registry(String)
    /// A player's stream has no route to a reachable backend: no publisher holds it anywhere
    /// (asked only when a player is routed again after its backend could not be reached).
    case noStream(StreamKey)

    public var description: String {
        switch self {
        case .noBackend(let kind): "no alive backend with an \(kind.rawValue) endpoint"
        case .backendLacksProtocol(let key, let id, let kind): "stream \(key) is on backend \(id), which has no \(kind.rawValue) endpoint"
        case .noCapacity(let kind, let why): "no capacity for a new stream on an \(kind.rawValue) endpoint: \(why)"
        case .registry(let why): "registry error: \(why)"
        case .noStream(let key): "stream \(key) has no live publisher on any reachable backend"
        }
    }
}
