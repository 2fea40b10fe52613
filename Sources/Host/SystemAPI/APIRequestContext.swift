import Hummingbird
import NIOCore

/// The request context of the system API: Hummingbird's basic context plus the peer's address,
/// which the access rules read (registration from loopback or `system_api.allow`).
struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
