import NIOHTTP1
import ProxyCore
import ProxyHTTP
import ProxyNet

/// Why the module answered a request with an error of its own (or, for a flood of pipelined
/// requests, closed the connection without one). Each reason has one status; counted per reason
/// in `http_flv_refused_requests_total`.
enum HTTPRefusal: CountedReason {
    /// A request head that is not HTTP/1.x (400).
    case malformedRequest
    /// The request head was not complete within `header_timeout` (408).
    case headerTimeout
    /// A request line over 8 KiB (414).
    case requestLineTooLong
    /// A head over 32 KiB or 100 fields (431).
    case headTooLarge
    /// A GET or HEAD with a body (400).
    case requestBody
    /// A method other than GET, HEAD (and OPTIONS with CORS) (405).
    case methodNotAllowed
    /// A live-stream path that names no valid stream key (400).
    case noStream
    /// Not a live stream (.flv, .ts, .m3u8) and no static file root (404).
    case notAStream
    /// A static file that does not exist (404).
    case noSuchFile
    /// A static path that leaves the root (403).
    case forbiddenPath
    /// A segment of an HLS session that is unknown or whose backend is gone (404).
    case unknownHLSSession
    /// No alive backend with an http endpoint (503).
    case noBackend
    /// Every alive backend with an http endpoint is draining or full (503).
    case noCapacity
    /// The registry could not be read or written, or the HLS session table is full (503).
    case registryError
    /// The stream lives on a backend without an http endpoint (502).
    case backendLacksProtocol
    /// The backend could not be reached (502).
    case backendUnreachable
    /// A player's backend could not be reached and no publisher holds its stream anywhere (404).
    case streamNotFound
    /// The backend closed before its response head, sent something that is not HTTP, or a
    /// playlist that is not one or is over `max_playlist_size` (502).
    case backendBadResponse
    /// The backend sent no response head within `backend_timeout` (504).
    case backendTimeout
    /// More pipelined requests than the queue holds (16): the connection is closed, no answer.
    case tooManyPipelined
    /// The play-auth hook refused the player (403).
    case playDenied
    /// The client address started more new streams or HLS sessions than `session_rate` allows (429).
    case rateLimited

    var label: String {
        switch self {
        case .malformedRequest: "malformed_request"
        case .headerTimeout: "header_timeout"
        case .requestLineTooLong: "request_line_too_long"
        case .headTooLarge: "head_too_large"
        case .requestBody: "request_body"
        case .methodNotAllowed: "method_not_allowed"
        case .noStream: "no_stream"
        case .notAStream: "not_a_stream"
        case .noSuchFile: "no_such_file"
        case .forbiddenPath: "forbidden_path"
        case .unknownHLSSession: "unknown_hls_session"
        case .noBackend: "no_backend"
        case .noCapacity: "no_capacity"
        case .registryError: "registry_error"
        case .backendLacksProtocol: "backend_lacks_protocol"
        case .backendUnreachable: "backend_unreachable"
        case .streamNotFound: "stream_not_found"
        case .backendBadResponse: "backend_bad_response"
        case .backendTimeout: "backend_timeout"
        case .tooManyPipelined: "too_many_pipelined"
        case .rateLimited: "rate_limited"
        case .playDenied: "play_denied"
        }
    }

    /// The status of the proxy's answer; nil when the connection is closed without one.
    var status: HTTPResponseStatus? {
        switch self {
        case .malformedRequest, .requestBody, .noStream: .badRequest
        case .headerTimeout: .requestTimeout
        case .requestLineTooLong: .uriTooLong
        case .headTooLarge: .requestHeaderFieldsTooLarge
        case .methodNotAllowed: .methodNotAllowed
        case .notAStream, .noSuchFile, .unknownHLSSession, .streamNotFound: .notFound
        case .forbiddenPath, .playDenied: .forbidden
        case .rateLimited: .tooManyRequests
        case .noBackend, .noCapacity, .registryError: .serviceUnavailable
        case .backendLacksProtocol, .backendUnreachable, .backendBadResponse: .badGateway
        case .backendTimeout: .gatewayTimeout
        case .tooManyPipelined: nil
        }
    }

    /// A refused request head (HTTPRequestReader).
    init(_ error: ClientRequestHeadError) {
        switch error {
        case .requestLineTooLong: self = .requestLineTooLong
        case .headTooLarge: self = .headTooLarge
        case .malformed: self = .malformedRequest
        }
    }

    /// A request the Router (or the HLS session store) found no backend for.
    init(routing error: any Error) {
        if case .playDenied? = error as? StreamSession.Refusal {
            self = .playDenied
            return
        }
        switch error as? RoutingError {
        case .noBackend?: self = .noBackend
        case .noCapacity?: self = .noCapacity
        case .backendLacksProtocol?: self = .backendLacksProtocol
        case .registry?, nil: self = .registryError
        case .noStream?: self = .streamNotFound
        }
    }
}
