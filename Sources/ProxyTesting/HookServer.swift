import Foundation
import Hummingbird
import Synchronization

/// A real HTTP hook receiver on 127.0.0.1 (Hummingbird, port 0): records every POST (path,
/// headers, JSON body, arrival time) and answers with what `respond` returns for it, given
/// how many requests that path had before. Stands in for an SRS-style http_hooks server.
public final class HookServer: Sendable {
    public struct Received: Sendable {
        public var path: String
        /// Header names lower-cased.
        public var headers: [String: String]
        public var body: String
        public var at: ContinuousClock.Instant

        /// The body's top-level string and number fields (`param`, `action`, `event_id`, ...).
        public var fields: [String: String] {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return [:] }
            return object.compactMapValues { value in
                if let s = value as? String { return s }
                if let n = value as? NSNumber { return n.stringValue }
                return nil
            }
        }
    }

    /// The answer to a request, given how many requests its path had before it.
    public typealias Respond = @Sendable (_ request: Received, _ earlier: Int) async -> (status: Int, body: String)

    private final class Box: Sendable { let recorded = Mutex<[Received]>([]) }

    public let port: Int
    private let box: Box
    private let task: Task<Void, any Error>

    private init(port: Int, box: Box, task: Task<Void, any Error>) {
        self.port = port
        self.box = box
        self.task = task
    }

    /// `http://127.0.0.1:<port><path>`.
    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Requests so far, oldest first; `path` filters.
    public func requests(_ path: String? = nil) -> [Received] {
        box.recorded.withLock { all in path.map { p in all.filter { $0.path == p } } ?? all }
    }

    public static func start(_ respond: @escaping Respond = { _, _ in (200, #"{"code":0}"#) }) async throws -> HookServer {
        let box = Box()
        let router = Router()
        router.post("**") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let path = request.uri.path
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let received = Received(path: path, headers: headers, body: body.getString(at: body.readerIndex, length: body.readableBytes) ?? "", at: .now)
            let earlier = box.recorded.withLock { all in
                let n = all.filter { $0.path == path }.count
                all.append(received)
                return n
            }
            let (status, text) = await respond(received, earlier)
            return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            })
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            task.cancel()
            throw TestFailure("the hook server did not start")
        }
        return HookServer(port: port, box: box, task: task)
    }

    public func stop() { task.cancel() }

    deinit { task.cancel() }
}
