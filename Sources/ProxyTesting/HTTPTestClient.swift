import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A small HTTP client for API tests (Foundation's URLSession, no cache, no cookies).
public enum HTTPTestClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: Data

        /// The body as a JSON object (empty when it is not one).
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
        }
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 10
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        return URLSession(configuration: configuration)
    }()

    public static func get(_ url: URL, headers: [String: String] = [:]) async throws -> Response {
        try await send("GET", url, body: nil, headers: headers)
    }

    public static func post(_ url: URL, json: String, headers: [String: String] = [:]) async throws -> Response {
        try await send("POST", url, body: Data(json.utf8), headers: ["Content-Type": "application/json"].merging(headers) { $1 })
    }

    public static func post(_ url: URL, body: Data, headers: [String: String] = [:]) async throws -> Response {
        try await send("POST", url, body: body, headers: headers)
    }

    public static func send(_ method: String, _ url: URL, body: Data?, headers: [String: String]) async throws -> Response {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw TestFailure("not an HTTP response from \(url)") }
        var fields: [String: String] = [:]
        for (k, v) in http.allHeaderFields { fields[String(describing: k).lowercased()] = String(describing: v) }
        return Response(status: http.statusCode, headers: fields, body: data)
    }
}
