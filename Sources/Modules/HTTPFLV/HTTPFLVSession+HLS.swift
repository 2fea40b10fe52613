import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyNet

/// HLS play sessions: a new one routed and redirected to its session URL, a known one sent to its backend.
extension HTTPFLVSession {
    func startHLSSession(_ exchange: Exchange) {
        let head = exchange.head
        guard let request = streamRequest(head) else { return }
        let hls = env.hls
        let client = clientAddress
        whenDone({ try await hls.create(for: request, client: client) }) { session, result in
            switch result {
            case .failure(let error):
                session.respondRouting(error)
            case .success(let hlsSession):
                let rewriter = HLSPlaylistRewriter(parameter: HLSSessionStore.parameter, sessionID: hlsSession.id)
                let location = rewriter.rewriteURI(Self.localReference(Self.originForm(head, droppingSession: true)))
                session.respond(status: .found, headers: ["Location": location, "Cache-Control": "no-cache"], body: nil)
            }
        }
    }

    func continueHLSSession(_ exchange: Exchange, id: String, ext: String) {
        let hls = env.hls
        let client = clientAddress
        whenDone({ try await hls.session(id, client: client) }) { session, result in
            switch result {
            case .failure(let error):
                switch error as? HLSSessionStore.LookupError {
                case .unknown?, .backendGone?:
                    // A playlist can start over on a fresh session; a segment of a lost session cannot be found.
                    if ext == "m3u8" {
                        guard session.env.newSessions.allow(session.clientIP ?? session.clientAddress) else {
                            return session.respond(.rateLimited, error: "too many new streams from this address; try again in a second", extra: ["Retry-After": "1"])
                        }
                        session.log(.info, "HLS session not usable (\(error)); starting a new one")
                        session.startHLSSession(exchange)
                    } else {
                        session.respond(.unknownHLSSession, error: "\(error)")
                    }
                default:
                    session.respond(.registryError, error: "\(error)")
                }
            case .success(let hlsSession):
                exchange.lease = hlsSession.lease
                exchange.rewriter = HLSPlaylistRewriter(
                    parameter: HLSSessionStore.parameter, sessionID: hlsSession.id,
                    ownAuthorities: Self.authorities(of: hlsSession.backend))
                let target = Self.originForm(exchange.head, droppingSession: true)
                if session.usesHLSCache(exchange), let origin = hlsSession.backend.address(for: .http) {
                    return session.fetchThroughCache(exchange, origin: origin, target: target)
                }
                session.forward(exchange, to: hlsSession.backend.address(for: .http), target: target)
            }
        }
    }
}
