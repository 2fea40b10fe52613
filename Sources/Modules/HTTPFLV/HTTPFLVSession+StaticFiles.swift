import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyHTTP
import ProxyNet

/// The static file root (`static_files`), sent with sendfile.
extension HTTPFLVSession {
    func serveStatic(_ exchange: Exchange, root: StaticFileRoot) {
        let path = exchange.head.path
        let fileIO = env.fileIO
        guard let context else { return }
        let lookup = root.lookup(path)
        guard case .file(let file, let contentType) = lookup else {
            return lookup == .forbidden
                ? respond(.forbiddenPath, error: "path leaves the static root") : respond(.noSuchFile, error: "no such file")
        }
        let bound = NIOLoopBound((self, exchange), eventLoop: context.eventLoop)
        fileIO.openFile(_deprecatedPath: file, eventLoop: context.eventLoop).whenComplete { result in
            let (session, exchange) = bound.value
            guard session.exchange === exchange, let context = session.context, !session.closed else {
                if case .success(let (handle, _)) = result { try? handle.close() }
                return
            }
            switch result {
            case .failure:
                session.respond(.noSuchFile, error: "no such file")
            case .success(let (handle, region)):
                var headers: HTTPHeaders = ["Content-Type": contentType, "Content-Length": "\(region.readableBytes)"]
                session.settings.cors.apply(to: &headers)
                if session.closeAfterResponse || exchange.isHEAD { headers.add(name: "Connection", value: "close") }
                let version: HTTPVersion = exchange.head.minorVersion == 0 ? .http1_0 : .http1_1
                context.write(session.wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .ok, headers: headers))), promise: nil)
                if exchange.isHEAD {
                    try? handle.close()
                    session.closeAfterResponse = true
                    context.flush()
                    return session.finish(exchange, reason: "static file")
                }
                context.write(session.wrapOutboundOut(.body(.fileRegion(region))), promise: nil)
                context.writeAndFlush(session.wrapOutboundOut(.end(nil))).whenComplete { _ in try? handle.close() }
                session.finish(exchange, reason: "static file")
            }
        }
    }
}
