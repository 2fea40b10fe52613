import Logging
import NIOCore
import NIOHTTP1
import ProxyCore
import ProxyHTTP
import ProxyNet

/// A `.flv` player served from its stream's fan-out upstream (FanoutHub): the connection's side.
///
/// The response is the connection's last (`Connection: close`): the head is written as bytes and
/// the response encoder taken out, so the shared ByteBuffer slices go to the socket as they are
/// (no chunk framing per player), and the body ends when the connection closes.
extension HTTPFLVSession: FanoutPlayerConnection {
    func joinFanout(_ exchange: Exchange, hubs: FanoutHubs, origin: BackendAddress) {
        guard let context, let stream = exchange.stream else { return }
        let subscriber = FanoutSubscriber(loop: context.eventLoop, connection: self)
        exchange.fanout = subscriber
        exchange.usesBackend = false
        // The first player's request opens the upstream: its path and query, its client identity.
        let request = ProxyHeaders.backendRequest(exchange.head, target: exchange.target, clientIP: clientIP)
        hubs.join(subscriber, key: .init(origin: origin, stream: stream.request.key), request: request)
    }

    func fanoutHead(_ upstream: HTTPResponseHead) -> Bool {
        guard let context, let exchange, exchange.fanout != nil, !closed, !exchange.headSent else { return false }
        closeAfterResponse = true
        guard writeRawHead(clientHead(from: upstream, exchange: exchange), exchange: exchange) else { return false }
        let queue = env.fanout?.settings.config.playerQueueBytes ?? 4 * 1024 * 1024
        context.channel.setOption(.writeBufferWaterMark, value: .init(low: queue / 2, high: queue)).whenFailure { _ in }
        // The socket's own buffer is a queue too: bounded by the same figure (the kernel doubles it).
        context.channel.setOption(.socketOption(.so_sndbuf), value: .init(queue / 2)).whenFailure { _ in }
        exchange.stream?.started()
        return true
    }

    func fanoutWrite(_ bytes: ByteBuffer) {
        guard let context, let exchange else { return }
        exchange.bytesToClient &+= UInt64(bytes.readableBytes)
        exchange.lease?.counters.addToClient(bytes.readableBytes)
        context.write(NIOAny(bytes), promise: nil)
    }

    func fanoutFlush() {
        context?.flush()
    }

    var fanoutWritable: Bool { context?.channel.isWritable ?? false }

    func fanoutEnded(_ end: FanoutEnd) {
        guard let exchange, let subscriber = exchange.fanout else { return }
        exchange.fanout = nil
        subscriber.leave()
        switch end {
        case .retry:
            guard let hubs = env.fanout, let address = exchange.lease?.address else { return respond(.backendUnreachable, error: "no backend") }
            joinFanout(exchange, hubs: hubs, origin: address)
        case .unreachable(let why) where !exchange.headSent:
            redispatch(exchange, after: why, target: exchange.target, deadline: exchange.deadline ?? .now())
        case .timeout(let why) where !exchange.headSent:
            respond(.backendTimeout, error: why)
        case .refused(let status) where !exchange.headSent:
            if status == .notFound {
                exchange.streamMissing = true
                respond(.streamNotFound, error: "the backend has no such stream (HTTP 404)")
            } else {
                respond(status: status, headers: [:], body: nil)
            }
        case .slow(let why):
            log(.notice, "fan-out player closed: \(why)", ["stream": "\(exchange.stream?.request.key.description ?? "")"])
            close()
        case .unreachable(let why), .timeout(let why), .broken(let why), .ended(let why):
            guard exchange.headSent else { return respond(.backendBadResponse, error: why) }
            finish(exchange, reason: why)
        case .refused(let status):
            finish(exchange, reason: "backend answered \(status.code)")
        }
    }

    /// A response head as HTTP/1.x bytes (the encoder is gone by the time it is written).
    static func serialize(_ head: HTTPResponseHead, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        buffer.writeString("HTTP/\(head.version.major).\(head.version.minor) \(head.status.code) \(head.status.reasonPhrase)\r\n")
        for (name, value) in head.headers {
            buffer.writeString(name)
            buffer.writeString(": ")
            buffer.writeString(value)
            buffer.writeString("\r\n")
        }
        buffer.writeString("\r\n")
        return buffer
    }
}
