import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import ProxyCore
import ProxyHTTP
import Synchronization

/// Fetches whole HLS objects from origins for the cache: one AsyncHTTPClient (a keep-alive pool
/// per origin), no redirects, no decompression, the module's `backend_timeout` for the whole
/// exchange, and at most `max_object_bytes` read.
final class HLSOriginFetcher: Sendable {
    enum Failure: Error, CustomStringConvertible {
        /// Over `max_object_bytes`: relayed per player instead.
        case tooLarge
        case unreachable(String)
        case timeout(String)

        var description: String {
            switch self {
            case .tooLarge: "the object is larger than hls_cache.max_object_bytes"
            case .unreachable(let why): why
            case .timeout(let why): why
            }
        }
    }

    private let client: HTTPClient
    private let maxBytes: Int
    private let timeout: TimeAmount

    init(group: any EventLoopGroup, maxBytes: Int, timeout: TimeAmount) {
        var pool = HTTPClient.Configuration.ConnectionPool()
        pool.idleTimeout = .seconds(30)
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: timeout), connectionPool: pool, decompression: .disabled)
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroup: group, configuration: configuration)
        self.maxBytes = maxBytes
        self.timeout = timeout
    }

    /// GETs `request` (its target and headers as the proxy forwards them) from `origin`.
    func fetch(_ request: HTTPRequestHead, from origin: BackendAddress, isPlaylist: Bool) async throws -> HLSCache.Object {
        var outgoing = HTTPClientRequest(url: "http://\(origin)\(request.uri)")
        outgoing.method = .GET
        outgoing.headers = request.headers
        let deadline = NIODeadline.now() + timeout
        do {
            let response = try await client.execute(outgoing, deadline: deadline)
            let body = try await response.body.collect(upTo: maxBytes)
            var headers = ProxyHeaders.clientResponseHeaders(response.headers, dropCORS: false)
            headers.remove(name: "content-length")
            let playlist = isPlaylist || (response.headers.first(name: "content-type")?.lowercased().contains("mpegurl") ?? false)
            return HLSCache.Object(status: response.status, headers: headers, body: body, isPlaylist: playlist)
        } catch is NIOTooManyBytesError {
            throw Failure.tooLarge
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw Failure.timeout("backend sent no whole answer within \(timeout.nanoseconds / 1_000_000) ms")
        } catch {
            throw Failure.unreachable("backend \(origin) failed: \(error)")
        }
    }

    func shutdown() async {
        try? await client.shutdown()
    }
}
