import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyHTTP
import ProxyNet

/// Answers the proxy makes itself (JSON errors in SRS form, redirects, preflights).
extension HTTPFLVSession {
    func respondRouting(_ error: any Error) {
        let refusal = HTTPRefusal(routing: error)
        if refusal == .playDenied { log(.notice, "\(error)") } else { log(.warning, "no backend: \(error)") }
        respond(refusal, error: "\(error)")
    }

    /// An error answer in SRS's JSON form, with the refusal's status, counted by its reason.
    func respond(_ refusal: HTTPRefusal, error: String, extra: HTTPHeaders = [:]) {
        guard context != nil, exchange != nil else { return }  // the client left: nothing is refused
        env.refusals.increment(refusal)
        guard let status = refusal.status else { return close() }
        let json = "{\"code\":\(status.code),\"error\":\(Self.jsonString(error))}\n"
        log(.info, "answered \(status.code): \(error)", ["target": "\(exchange?.head.target.prefix(256) ?? "")"])
        var headers = extra
        headers.add(name: "Content-Type", value: "application/json")
        respond(status: status, headers: headers, body: json)
    }

    func respond(status: HTTPResponseStatus, headers: HTTPHeaders, body: String?) {
        guard let context, let exchange else { return }
        exchange.timer?.cancel()
        guard !exchange.headSent else {
            closeAfterResponse = true
            return finish(exchange, reason: "\(status.code) after the response started")
        }
        var headers = headers
        settings.cors.apply(to: &headers)
        let bytes = body.map { context.channel.allocator.buffer(string: $0) }
        headers.replaceOrAdd(name: "Content-Length", value: "\(bytes?.readableBytes ?? 0)")
        if closeAfterResponse || exchange.isHEAD { headers.replaceOrAdd(name: "Connection", value: "close") }
        let version: HTTPVersion = exchange.head.minorVersion == 0 ? .http1_0 : .http1_1
        exchange.headSent = true
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if exchange.isHEAD {
            closeAfterResponse = true
            context.flush()
        } else {
            if let bytes { context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        finish(exchange, reason: "\(status.code)")
    }
}
