import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyNet

/// Ending exchanges and the connection: what they hold is given back, queued writes are flushed.
extension HTTPFLVSession {
    func finish(_ exchange: Exchange, reason: String) {
        end(exchange, reason: reason)
        if self.exchange === exchange { self.exchange = nil }
        if closeAfterResponse {
            closeWhenWritten()
        } else {
            startNext()
        }
    }

    /// Ends what the exchange holds: a live stream's session (its end event, its lease).
    func end(_ exchange: Exchange, reason: String) {
        exchange.timer?.cancel()
        exchange.stallCheck?.cancel()
        if let subscriber = exchange.fanout {
            exchange.fanout = nil
            subscriber.leave()
        }
        if let stream = exchange.stream {
            exchange.stream = nil
            if stream.hasStarted, !stream.isEnded {
                env.logger.info("relay closed", metadata: [
                    "stream": "\(stream.request.key)", "client": "\(clientAddress)", "reason": "\(reason)",
                    "bytes_to_client": "\(exchange.bytesToClient)",
                ])
            }
            if exchange.streamMissing { stream.endWithoutStream(reason: "no such stream at the backend") } else { stream.end(reason: reason) }
        }
        // A backend connection left mid-response is in an unknown state: never reuse it.
        if exchange.usesBackend && !exchange.backendDone && self.exchange === exchange { dropLink() }
    }

    func dropLink() {
        guard let link else { return }
        self.link = nil
        link.handler.detach()
        link.channel.close(promise: nil)
    }

    /// Closes now: queued writes are dropped (the client is gone or misbehaved).
    func close() {
        guard !closed, let context else { return }
        closed = true
        idleTimer?.cancel()
        dropLink()
        context.close(promise: nil)
    }

    /// Closes once every queued write reached the socket (closing at once would drop the end of
    /// the response), or after `idle_timeout` if the client stops reading.
    func closeWhenWritten() {
        guard !closed, let context else { return }
        closed = true
        idleTimer?.cancel()
        dropLink()
        // An empty body part writes no bytes (no chunk either) and completes after every earlier write.
        let empty = context.channel.allocator.buffer(capacity: 0)
        // Without the encoder (a fan-out response) the barrier is a raw empty buffer.
        let barrier = rawBody ? context.writeAndFlush(NIOAny(empty)) : context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(empty))))
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let deadline = context.eventLoop.scheduleTask(in: settings.idleTimeout) { bound.value.close(promise: nil) }
        barrier.whenComplete { _ in
            deadline.cancel()
            bound.value.close(promise: nil)
        }
    }

    func armIdleTimer() {
        guard let context, idleTimer == nil, !closed else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: settings.idleTimeout) {
            let session = bound.value
            session.idleTimer = nil
            guard session.exchange == nil else { return }
            session.log(.debug, "idle keep-alive connection closed")
            session.close()
        }
    }
}
