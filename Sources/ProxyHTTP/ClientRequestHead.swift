import Foundation

/// One HTTP/1.x request head, parsed by `ClientRequestHead.parse` with fixed bounds.
public struct ClientRequestHead: Sendable, Equatable {
    public var method: String
    /// The request target as sent: `/live/s.flv?token=1` (origin form) or an absolute URL.
    public var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// Header fields in order, names as sent.
    public var headers: [(name: String, value: String)]

    public init(method: String, target: String, minorVersion: Int, headers: [(name: String, value: String)]) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.headers = headers
    }

    public static func == (a: ClientRequestHead, b: ClientRequestHead) -> Bool {
        a.method == b.method && a.target == b.target && a.minorVersion == b.minorVersion
            && a.headers.elementsEqual(b.headers) { $0.name == $1.name && $0.value == $1.value }
    }

    /// The first value of a header (case-insensitive name).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The path part of the target (for an absolute URL, the part after the authority).
    public var path: String {
        let t = originForm
        if let q = t.firstIndex(of: "?") { return String(t[t.startIndex..<q]) }
        return t
    }

    /// The query after `?`, without it; empty when there is none.
    public var query: String {
        let t = originForm
        guard let q = t.firstIndex(of: "?") else { return "" }
        return String(t[t.index(after: q)...])
    }

    /// The Host header, or the authority of an absolute-form target.
    public var host: String? {
        if let h = header("host"), !h.isEmpty { return h }
        return absoluteAuthority
    }

    /// Whether the connection stays open after the response (HTTP/1.1 default, `Connection: close`, 1.0 `keep-alive`).
    public var keepAlive: Bool {
        let tokens = headers.filter { $0.name.lowercased() == "connection" }
            .flatMap { $0.value.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if minorVersion >= 1 { return !tokens.contains("close") }
        return tokens.contains("keep-alive")
    }

    /// Whether the request says a body follows (a non-zero Content-Length or any Transfer-Encoding).
    public var declaresBody: Bool {
        if header("transfer-encoding") != nil { return true }
        if let length = header("content-length") { return length.trimmingCharacters(in: .whitespaces) != "0" }
        return false
    }

    private var originForm: String {
        guard let rest = absoluteRest else { return target }
        guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
        let tail = String(rest[slash...])
        return tail.hasPrefix("?") ? "/" + tail : tail
    }

    private var absoluteRest: Substring? {
        for scheme in ["http://", "https://"] where target.lowercased().hasPrefix(scheme) {
            return target.dropFirst(scheme.count)
        }
        return nil
    }

    private var absoluteAuthority: String? {
        guard let rest = absoluteRest else { return nil }
        return String(rest.prefix { $0 != "/" && $0 != "?" })
    }
}

/// Why a request head was refused, with the status the server answers.
public enum ClientRequestHeadError: Error, Equatable, CustomStringConvertible {
    /// The request line is longer than `Limits.maxRequestLine` (414).
    case requestLineTooLong
    /// The head is longer than `Limits.maxHead` or has more than `Limits.maxHeaderCount` fields (431).
    case headTooLarge
    /// Not HTTP/1.x syntax (400).
    case malformed(String)

    public var status: Int {
        switch self {
        case .requestLineTooLong: 414
        case .headTooLarge: 431
        case .malformed: 400
        }
    }

    public var description: String {
        switch self {
        case .requestLineTooLong: "request line too long"
        case .headTooLarge: "request head too large"
        case .malformed(let why): "malformed request: \(why)"
        }
    }
}

extension ClientRequestHead {
    public struct Limits: Sendable {
        public var maxRequestLine = 8 * 1024
        public var maxHead = 32 * 1024
        public var maxHeaderCount = 100
        public init() {}
    }

    /// What `parse` found at the start of `bytes`.
    public enum ParseResult: Sendable, Equatable {
        /// A whole head that used `consumed` bytes (through the blank line).
        case head(ClientRequestHead, consumed: Int)
        /// No whole head yet and no limit passed: read more.
        case needMore
    }

    /// Parses one request head from the start of `bytes`. Leading blank lines are skipped (RFC 9112 §2.2)
    /// but count toward `maxHead`, like the head's own bytes.
    /// Never reads past the limits: a head that cannot fit throws before it is complete, and bytes
    /// that are a prefix of a head the limits accept give `.needMore`, wherever they are cut.
    public static func parse(_ bytes: some Collection<UInt8>, limits: Limits = Limits()) throws(ClientRequestHeadError) -> ParseResult {
        let b = Array(bytes.prefix(limits.maxHead + 4))
        var start = 0
        while start + 1 < b.count, b[start] == 13, b[start + 1] == 10 { start += 2 }
        while start < b.count, b[start] == 10 { start += 1 }

        // Find the end of the request line first, so an over-long line is named as such.
        // Its length excludes the CR LF (or LF) that ends it, and a CR that may be the start of one.
        // A first byte no request line starts with is refused at once, wherever the bytes are cut
        // (a lone CR may still be the start of a blank line).
        if b.count - start > 0, b[start] < 0x21 || b[start] > 0x7e, !(b[start] == 13 && b.count - start == 1) {
            throw .malformed("request line starts with a control byte")
        }
        guard let lineEnd = b[start...].firstIndex(of: 10) else {
            if b.count - start - (b.last == 13 ? 1 : 0) > limits.maxRequestLine { throw .requestLineTooLong }
            if b.count > limits.maxHead { throw .headTooLarge }
            return .needMore
        }
        if lineEnd - start - (b[lineEnd - 1] == 13 ? 1 : 0) > limits.maxRequestLine { throw .requestLineTooLong }

        // Find the blank line that ends the head.
        var headEnd: Int?
        var i = lineEnd
        while i < b.count {
            if b[i] == 10 {
                if i + 1 < b.count, b[i + 1] == 10 { headEnd = i + 2; break }
                if i + 2 < b.count, b[i + 1] == 13, b[i + 2] == 10 { headEnd = i + 3; break }
            }
            i += 1
        }
        guard let end = headEnd else {
            if b.count > limits.maxHead { throw .headTooLarge }
            return .needMore
        }
        if end > limits.maxHead { throw .headTooLarge }

        var lines: [ArraySlice<UInt8>] = []
        var lineStart = start
        for j in start..<end where b[j] == 10 {
            var line = b[lineStart..<j]
            if line.last == 13 { line = line.dropLast() }
            lines.append(line)
            lineStart = j + 1
        }
        // lines: request line, fields..., "" (blank)
        guard let requestLine = lines.first else { throw .malformed("empty head") }
        let head = try parseRequestLine(requestLine)
        var fields: [(name: String, value: String)] = []
        for line in lines.dropFirst() where !line.isEmpty {
            if line.first == 32 || line.first == 9 { throw .malformed("obsolete header line folding") }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw .malformed("header line without a colon") }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenByte) else { throw .malformed("invalid header name") }
            let value = line[(colon + 1)...]
            guard value.allSatisfy({ $0 == 9 || ($0 >= 32 && $0 != 127) }) else { throw .malformed("control byte in a header value") }
            fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self).trimmingCharacters(in: .whitespaces)))
            if fields.count > limits.maxHeaderCount { throw .headTooLarge }
        }
        return .head(ClientRequestHead(method: head.method, target: head.target, minorVersion: head.minor, headers: fields), consumed: end)
    }

    private static func parseRequestLine(_ line: ArraySlice<UInt8>) throws(ClientRequestHeadError) -> (method: String, target: String, minor: Int) {
        let parts = line.split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("request line is not 'METHOD target HTTP/1.x'") }
        guard !parts[0].isEmpty, parts[0].allSatisfy(isTokenByte) else { throw .malformed("invalid method") }
        guard !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 32 && $0 < 127 }) else { throw .malformed("invalid request target") }
        let version = String(decoding: parts[2], as: UTF8.self)
        let minor: Int
        switch version {
        case "HTTP/1.1": minor = 1
        case "HTTP/1.0": minor = 0
        default: throw .malformed("unsupported version \(version.prefix(16))")
        }
        let target = String(decoding: parts[1], as: UTF8.self)
        guard target.hasPrefix("/") || target.lowercased().hasPrefix("http://") || target.lowercased().hasPrefix("https://") || target == "*" else {
            throw .malformed("request target is neither a path nor an absolute URL")
        }
        return (String(decoding: parts[0], as: UTF8.self), target, minor)
    }
}

private func isTokenByte(_ c: UInt8) -> Bool {
    switch c {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
    default: "!#$%&'*+-.^_`|~".utf8.contains(c)
    }
}
