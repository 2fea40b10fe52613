import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The module's fan-out upstreams by origin and stream: a player's join finds its stream's hub
/// or makes it (on the player's loop). Looked up when a player joins, never per packet.
final class FanoutHubs: Sendable {
    let settings: FanoutHub.Settings
    let stats = FanoutStats()
    private let logger: Logger
    private let hubs = Mutex<[FanoutHub.Key: FanoutHub]>([:])

    init(settings: FanoutHub.Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    func join(_ subscriber: FanoutSubscriber, key: FanoutHub.Key, request: HTTPRequestHead) {
        let hub = hubs.withLock { hubs in
            if let hub = hubs[key] { return hub }
            let hub = FanoutHub(key: key, loop: subscriber.loop, settings: settings, stats: stats, owner: self, logger: logger)
            hubs[key] = hub
            return hub
        }
        hub.add(subscriber, request: request)
    }

    /// A closed hub leaves the table (a later player makes a new one).
    func remove(_ hub: FanoutHub) {
        hubs.withLock { hubs in
            if hubs[hub.key] === hub { hubs[hub.key] = nil }
        }
    }
}
