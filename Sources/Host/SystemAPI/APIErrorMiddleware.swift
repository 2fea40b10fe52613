import Foundation
import Hummingbird
import Logging
import NIOCore
import RedisRegistry

/// Turns every error of an API request (including an unknown path or an oversized body) into
/// SRS-style JSON: `{"code": N, "error": "..."}` with the matching HTTP status.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    var logger: Logger
    /// Paths the API serves and their methods (`Allow` syntax), so a wrong method on one is a 405
    /// with `Allow`, not a 404. A segment `:name` matches any one segment.
    var knownPaths: [String: String] = [:]

    /// The methods served on `path`, if it is a known one.
    func allowed(on path: String) -> String? {
        if let exact = knownPaths[path] { return exact }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (pattern, methods) in knownPaths where pattern.contains("/:") {
            let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == segments.count else { continue }
            if zip(parts, segments).allSatisfy({ p, s in p.hasPrefix(":") ? !s.isEmpty : p == s }) { return methods }
        }
        return nil
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            logger.info("request refused", metadata: ["path": "\(request.uri.path)", "status": "\(error.status.code)", "error": "\(error.message)"])
            var response = JSONResponse.error(error.status, error.message)
            if error.status == .unauthorized { response.headers[.wwwAuthenticate] = #"Bearer realm="stream-proxy""# }
            return response
        } catch let error as HTTPError {
            let path = request.uri.path.count > 1 && request.uri.path.hasSuffix("/") ? String(request.uri.path.dropLast()) : request.uri.path
            if error.status == .notFound, let allowed = allowed(on: path) {
                var response = JSONResponse.error(.methodNotAllowed, "method \(request.method) not allowed on \(path)")
                response.headers[.allow] = allowed
                return response
            }
            let message: String = switch error.status {
            case .notFound: "no such path: \(request.uri.path)"
            case .contentTooLarge: "request body too large"
            case .methodNotAllowed: "method \(request.method) not allowed on \(request.uri.path)"
            default: error.body ?? error.status.reasonPhrase
            }
            return JSONResponse.error(error.status, message)
        } catch is NIOTooManyBytesError {
            return JSONResponse.error(.contentTooLarge, "request body too large")
        } catch let error as RedisError {
            // The shared registry is down: the API says so; the proxy reconnects by itself.
            logger.warning("registry unavailable", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return JSONResponse.error(.serviceUnavailable, "registry unavailable: \(error)")
        } catch {
            logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return JSONResponse.error(.internalServerError, "internal error: \(error)")
        }
    }
}

/// JSON bodies for the APIs.
enum JSONResponse {
    static func ok(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        var body = object
        body["code"] = body["code"] ?? 0
        return make(status, body)
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        make(status, ["code": status.code, "error": message])
    }

    private static func make(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
