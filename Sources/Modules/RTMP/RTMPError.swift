/// Why an RTMP connection was closed. Each names the cause for the log line.
enum RTMPError: Error, CustomStringConvertible, Equatable {
    case badVersion(UInt8)
    case handshakeTimeout
    case messageTooLarge(Int, limit: Int)
    case badChunkSize(UInt32)
    case tooManyChunkStreams(Int)
    case continuationWithoutHeader(csid: UInt32)
    case interruptedMessage(csid: UInt32)
    case ambiguousControl(String)
    case badCommand(String)
    case commandOutOfOrder(String)
    /// connect without tcUrl, publish/play without a name, or a tcUrl and name that make no stream key.
    case noStream(String)
    case bufferLimit(Int)
    case publishDenied(String)
    case playDenied(String)
    case backendHandshake(String)
    case streamIDMismatch(proxy: Double, backend: Double)
    /// A publish, play or connect on a connection whose stream is already relayed.
    case streamChange(String)

    var description: String {
        switch self {
        case .badVersion(let v): "not an RTMP handshake (version byte \(v), expected 3)"
        case .handshakeTimeout: "handshake or commands did not finish in time"
        case .messageTooLarge(let size, let limit): "message of \(size) bytes exceeds the limit of \(limit)"
        case .badChunkSize(let size): "invalid chunk size \(size) (allowed: 1 to 2^31-1)"
        case .tooManyChunkStreams(let n): "more than \(n) chunk streams"
        case .continuationWithoutHeader(let csid): "chunk stream \(csid) continues a message it never started"
        case .interruptedMessage(let csid): "chunk stream \(csid) starts a message before finishing the previous one"
        case .ambiguousControl(let what): "\(what) before publish/play is not accepted (origins read it differently)"
        case .badCommand(let why): "malformed command: \(why)"
        case .commandOutOfOrder(let why): why
        case .noStream(let why): "no stream: \(why)"
        case .bufferLimit(let n): "client sent more than \(n) bytes before its stream was relayed"
        case .publishDenied(let why): "publish refused: \(why)"
        case .playDenied(let why): "play refused: \(why)"
        case .backendHandshake(let why): "backend handshake failed: \(why)"
        case .streamIDMismatch(let p, let b): "backend gave stream id \(b), the proxy gave the client \(p)"
        case .streamChange(let name): "\(name) on a connection already relayed is refused (one stream and one role per connection)"
        }
    }
}
