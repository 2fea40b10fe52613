/// One reply of a Redis command, copied out of hiredis' reply object.
public enum RedisReply: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case array([RedisReply])
    case null
    case status(String)
    case error(String)

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var integer: Int? {
        switch self {
        case .integer(let i): i
        case .string(let s): Int(s)
        default: nil
        }
    }

    var array: [RedisReply] {
        if case .array(let a) = self { return a }
        return []
    }
}

/// Why a Redis command failed.
public enum RedisError: Error, CustomStringConvertible {
    /// No connection: refused, timed out, dropped, or waiting out the reconnect backoff.
    case unavailable(String)
    /// The server answered with an error (`ERR ...`, `NOAUTH ...`, a script error).
    case server(String)
    /// The server answered with something the caller did not expect.
    case unexpected(String)

    public var description: String {
        switch self {
        case .unavailable(let why): "redis unavailable: \(why)"
        case .server(let why): "redis error: \(why)"
        case .unexpected(let why): "unexpected redis reply: \(why)"
        }
    }
}
