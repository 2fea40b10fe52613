import ProxyCore
import ProxyNet

/// Why the module closed a client connection before relaying it: bad input, a refused publish, or
/// no backend to relay to. Counted per reason in `rtmp_refused_connections_total`.
enum RTMPRefusal: CountedReason {
    /// The first byte is not RTMP's version 3.
    case badHandshake
    /// The handshake or the commands up to publish/play did not finish within `handshake_timeout`.
    case handshakeTimeout
    /// A chunk stream the parser refuses: an invalid chunk size, too many chunk streams, a
    /// continuation without a header, a message started before the previous one ended.
    case malformedChunk
    /// A message over `max_message_size`, or a command over 256 KiB.
    case messageTooLarge
    /// Abort, or a split Set Chunk Size, before publish/play.
    case ambiguousControl
    /// A command whose AMF does not decode.
    case malformedCommand
    /// A command before connect, or a second connect.
    case commandOutOfOrder
    /// connect without tcUrl, publish/play without a name, or no valid stream key from them.
    case noStream
    /// More than 1 MiB from the client before its stream was relayed.
    case bufferLimit
    /// The publish-auth hook refused the publish.
    case publishDenied
    /// The play-auth hook refused the player.
    case playDenied
    /// No alive backend with an rtmp endpoint.
    case noBackend
    /// Every alive backend with an rtmp endpoint is draining or full.
    case noCapacity
    /// The stream lives on a backend without an rtmp endpoint.
    case backendLacksProtocol
    /// The registry could not be read or written.
    case registryError
    /// The backend could not be reached, or its handshake failed or timed out.
    case backendUnreachable
    /// A player's backend could not be reached and no publisher holds its stream anywhere.
    case streamNotFound
    /// A publish, play or connect after the connection's stream was relayed.
    case streamChange

    var label: String {
        switch self {
        case .badHandshake: "bad_handshake"
        case .handshakeTimeout: "handshake_timeout"
        case .malformedChunk: "malformed_chunk"
        case .messageTooLarge: "message_too_large"
        case .ambiguousControl: "ambiguous_control"
        case .malformedCommand: "malformed_command"
        case .commandOutOfOrder: "command_out_of_order"
        case .noStream: "no_stream"
        case .bufferLimit: "buffer_limit"
        case .publishDenied: "publish_denied"
        case .playDenied: "play_denied"
        case .noBackend: "no_backend"
        case .noCapacity: "no_capacity"
        case .backendLacksProtocol: "backend_lacks_protocol"
        case .registryError: "registry_error"
        case .backendUnreachable: "backend_unreachable"
        case .streamNotFound: "stream_not_found"
        case .streamChange: "stream_change"
        }
    }

    /// The reason for a connection closed by `error`; nil for errors that refuse nothing (the
    /// client's socket failing, a backend misbehaving after the relay started).
    init?(_ error: any Error) {
        switch error {
        case let error as RTMPError:
            switch error {
            case .badVersion: self = .badHandshake
            case .handshakeTimeout: self = .handshakeTimeout
            case .badChunkSize, .tooManyChunkStreams, .continuationWithoutHeader, .interruptedMessage: self = .malformedChunk
            case .messageTooLarge: self = .messageTooLarge
            case .ambiguousControl: self = .ambiguousControl
            case .badCommand: self = .malformedCommand
            case .commandOutOfOrder: self = .commandOutOfOrder
            case .noStream: self = .noStream
            case .bufferLimit: self = .bufferLimit
            case .publishDenied: self = .publishDenied
            case .playDenied: self = .playDenied
            case .backendHandshake: self = .backendUnreachable
            case .streamIDMismatch: return nil
            case .streamChange: self = .streamChange
            }
        case let error as RoutingError:
            switch error {
            case .noBackend: self = .noBackend
            case .noCapacity: self = .noCapacity
            case .backendLacksProtocol: self = .backendLacksProtocol
            case .registry: self = .registryError
            case .noStream: self = .streamNotFound
            }
        default:
            return nil
        }
    }
}
