import Foundation
import ProxyCore
import Synchronization

/// A wall clock the tests move by hand: MemoryRegistry and Router read it through their `now` closures.
final class TestClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        current = Mutex(start)
    }

    var now: Date { current.withLock { $0 } }

    /// The closure to hand to MemoryRegistry and Router.
    var source: @Sendable () -> Date { { self.now } }

    func advance(_ duration: Duration) {
        current.withLock { $0 = $0.addingTimeInterval(duration.timeInterval) }
    }
}

/// A backend named `server` exposing `kinds`, each on a distinct port.
func makeBackend(_ server: String, kinds: [EndpointKind] = [.rtmp, .http], ip: String = "10.0.0.1") -> Backend {
    var endpoints: [EndpointKind: [ListenEndpoint]] = [:]
    for (i, kind) in kinds.enumerated() {
        endpoints[kind] = [ListenEndpoint(port: 10_000 + i)]
    }
    return Backend(server: server, service: "svc", pid: "1", ip: ip, endpoints: endpoints)
}

/// `__defaultVhost__/live/<stream>`.
func liveKey(_ stream: String) -> StreamKey {
    try! StreamKey(vhost: nil, app: "live", stream: stream)
}
