import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The HTTP client of every hook: one AsyncHTTPClient (connection pool, keep-alive, TLS for
/// https urls) made on first use and shut down with the hooks service. No redirects, no
/// decompression, a deadline per request and a cap on the answer's size.
final class HookHTTPClient: Sendable {
    struct Response: Sendable {
        var status: Int
        var body: String
        var headers = HTTPHeaders()
    }

    enum Failure: Error, CustomStringConvertible {
        case transport(String)
        case tooLarge(Int)
        case closed

        var description: String {
            switch self {
            case .transport(let why): why
            case .tooLarge(let n): "the answer is larger than \(n) bytes"
            case .closed: "the proxy is shutting down"
            }
        }
    }

    /// Largest answer read from a hook.
    static let maxResponseBody = 64 * 1024

    private enum State {
        case idle
        case running(HTTPClient)
        case closed
    }

    private let state = Mutex(State.idle)
    private let group: any EventLoopGroup

    init(group: any EventLoopGroup) {
        self.group = group
    }

    private func client() throws(Failure) -> HTTPClient {
        let group = self.group
        return try state.withLock { (s: inout State) throws(Failure) -> HTTPClient in
            switch s {
            case .running(let c): return c
            case .closed: throw .closed
            case .idle:
                var pool = HTTPClient.Configuration.ConnectionPool()
                pool.idleTimeout = .seconds(60)
                var configuration = HTTPClient.Configuration(
                    redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)), connectionPool: pool, decompression: .disabled)
                configuration.httpVersion = .http1Only
                let c = HTTPClient(eventLoopGroup: group, configuration: configuration)
                s = .running(c)
                return c
            }
        }
    }

    /// POSTs to `url`: `json` as an `application/json` body, or an empty body when nil (the
    /// coordinator format); `authorization` as the header of that name. The whole exchange ends
    /// within `timeout`.
    func post(
        _ url: URL, json: String?, headers: [String: String], authorization: String?, timeout: Duration
    ) async throws(Failure) -> Response {
        let client = try client()
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        if json != nil { request.headers.add(name: "Content-Type", value: "application/json") }
        request.headers.add(name: "User-Agent", value: "\(ProxyVersion.name)/\(ProxyVersion.string)")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: json ?? ""))
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.seconds * 1e9))
        do {
            let response = try await client.execute(request, deadline: deadline)
            let body = try await response.body.collect(upTo: Self.maxResponseBody)
            return Response(status: Int(response.status.code), body: String(buffer: body), headers: response.headers)
        } catch is NIOTooManyBytesError {
            throw .tooLarge(Self.maxResponseBody)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw .transport("no answer within \(timeout)")
        } catch {
            throw .transport("\(error)")
        }
    }

    /// Closes pooled connections; later posts fail with `closed`.
    func shutdown() async {
        let client: HTTPClient? = state.withLock { s in
            defer { s = .closed }
            if case .running(let c) = s { return c }
            return nil
        }
        try? await client?.shutdown()
    }
}
