import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyNet

/// Live streams (`*.flv`, `*.ts`): one StreamSession per exchange, routed and relayed as it arrives.
extension HTTPFLVSession {
    func startLiveStream(_ exchange: Exchange) {
        let head = exchange.head
        guard let request = streamRequest(head), let context else { return }
        let stream = StreamSession(request, role: .play, client: clientAddress, needs: .http, context: env.sessions)
        exchange.stream = stream
        // Closed on request (the commands API): the player's connection ends.
        let channel = context.channel
        stream.onClose { _ in channel.close(promise: nil) }
        whenDone(stream.open(on: context.eventLoop)) { session, result in
            switch result {
            case .failure(let error):
                // A player whose connection or exchange went meanwhile is not answered.
                guard session.exchange === exchange, !session.closed else { return }
                session.respondRouting(Self.cause(error))
            case .success(let lease):
                guard session.exchange === exchange, !session.closed else { return stream.end(reason: "client left while routing") }
                exchange.lease = lease
                session.relay(exchange, lease: lease, target: Self.originForm(head, droppingSession: false))
            }
        }
    }

    /// Sends a live stream's request on: to its stream's fan-out upstream when it shares one,
    /// else to the backend (`deadline`: a redispatch keeps the first attempt's).
    func relay(_ exchange: Exchange, lease: RouteLease, target: String, deadline: NIODeadline? = nil) {
        exchange.target = target
        exchange.deadline = deadline ?? .now() + settings.backendTimeout
        if exchange.fansOut, let hubs = env.fanout, let address = lease.address {
            return joinFanout(exchange, hubs: hubs, origin: address)
        }
        forward(exchange, to: lease.address, target: target, deadline: exchange.deadline)
    }

    /// What refused a live stream's session, in the terms HTTPRefusal counts.
    static func cause(_ error: any Error) -> any Error {
        if case .routing(let error)? = error as? StreamSession.Refusal { return error }  // a play refusal stays itself
        return error
    }
}
