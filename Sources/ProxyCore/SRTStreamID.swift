import Foundation

/// An SRT caller's Stream ID, read as SRS reads it (`srs_srt_streamid_info` and
/// `srs_srt_streamid_to_request` in SRS's `trunk/src/app/srs_app_srt_utility.cpp`).
///
/// The proxy passes the caller's Stream ID to the origin unchanged, so it must name the same
/// stream with the same mode as SRS does: a Stream ID the proxy read as a play while SRS reads
/// a publish would bypass the publish hook. Rules, in order:
///
/// - **Length, end.** At most 512 bytes. The Stream ID ends at its first NUL byte: libsrt keeps
///   the handshake extension as a C string, and so does SRS.
/// - **Plain form** (the id does not start with `#!::`): the whole id is the path; an id without
///   `/` is `live/<id>` (`defaultApp`).
/// - **Access-control form** (`#!::` at the very start), SRS's `srs_net_url_parse_query`:
///   1. every `?` becomes `,` (SRS's compatibility with `#!::h=live/s?secret=x,m=publish`);
///   2. the text is cut into tokens at `=`, `,`, `&&`, `&` and `;` (`&&` is one separator).
///      An empty token is kept, except a last one;
///   3. tokens are taken two by two as key and value. A key without `=` therefore takes the next
///      token as its value and shifts every later pair (`#!::r=live/s,x,m=publish` is a play
///      with `x=m&publish=`); a lone last key has an empty value;
///   4. the last value of a key wins. Keys are case-sensitive and read in byte order (SRS
///      iterates a `std::map`):
///      - `h` without `/` is the host (the vhost, also reported as `vhost=<h>` in the query);
///        with one `/` it is the path `app/stream` (SRS's older form); with more it is
///        `vhost/app/stream` (the vhost also reported as `vhost=<vhost>`);
///      - `r` is the path; it replaces a path from `h` (`r` sorts after `h`);
///      - `m` is `publish` or `request` in any ASCII case; anything else, empty included, is
///        refused. Without `m` the session plays;
///      - every other key (`M` too) becomes `key=value` in the query, joined by `&`, in key order;
///   5. a Stream ID without a path (or with an empty one) is refused.
/// - **Path to stream** (`srs_srt_streamid_to_request`), for both forms: the app is what comes
///   before the first `/` (`live` when there is none); the stream is what follows, up to the
///   first `?`; the query is the rest after that `?`. Nothing is percent-decoded (SRS decodes
///   nothing).
/// - **Key.** The vhost is `h`'s host through the host-name rule (`StreamKey.vhost(fromHost:)`),
///   else the default vhost. A `vhost=` key is only forwarded in the query: SRS takes an SRT
///   session's vhost from `h` alone. A stream holding slashes (`live/sub/s`, SRS's app `live`
///   and stream `sub/s`) becomes app `live/sub` and stream `s`: a key's stream has no `/`, and
///   SRS names the source `/live/sub/s` either way. An empty path segment is refused: an empty
///   app (`/live/s`) with `missingApp`, an empty stream (`live/`) with `missingStream`, an empty
///   segment inside the stream (`live//s`, `live/s/`) with `invalidCharacters`, because SRS would
///   serve a stream (`//live/s`) that no key names.
///
/// The work is linear in the length; at most `maxPairs` key/value pairs are read.
public struct SRTStreamID: Hashable, Sendable {
    /// The Stream ID is at most 512 bytes (SRT's limit).
    public static let maxLength = 512
    /// The app of a path without `/` (SRS's default app).
    public static let defaultApp = "live"
    /// Most key/value pairs in an access-control Stream ID; more are refused.
    public static let maxPairs = 64

    public var request: StreamRequest
    /// `m=publish` publishes; `m=request`, no `m` and the plain form play.
    public var role: SessionRole

    public init(parsing sid: String) throws(StreamKeyError) {
        var bytes = Array(sid.utf8)
        guard bytes.count <= Self.maxLength else { throw .invalidStreamID("longer than \(Self.maxLength) bytes") }
        if let nul = bytes.firstIndex(of: 0) { bytes.removeSubrange(nul...) }
        let target: Target
        if bytes.starts(with: Byte.accessControlPrefix) {
            target = try Self.accessControlTarget(bytes.dropFirst(Byte.accessControlPrefix.count))
        } else {
            target = Self.plainTarget(bytes)
        }
        self.request = try Self.streamRequest(target)
        self.role = target.role
    }
}

extension SRTStreamID {
    /// What `srs_srt_streamid_info` yields: SRS's `url_subpath` (`app/stream?query`), the vhost
    /// named by `h` (raw bytes) and the mode.
    private struct Target {
        var subpath: [UInt8]
        var vhost: [UInt8]?
        var role: SessionRole

        init(subpath: [UInt8], vhost: [UInt8]? = nil, role: SessionRole = .play) {
            self.subpath = subpath
            self.vhost = vhost
            self.role = role
        }
    }

    /// The plain form: the id is the path, `live/<id>` when it has no `/`.
    private static func plainTarget(_ id: [UInt8]) -> Target {
        guard !id.contains(Byte.slash) else { return Target(subpath: id) }
        return Target(subpath: Array(defaultApp.utf8) + [Byte.slash] + id)
    }

    /// The access-control form after `#!::`: the pairs read in key order, the other keys
    /// appended to the path as `?k=v&k2=v2`.
    private static func accessControlTarget(_ body: ArraySlice<UInt8>) throws(StreamKeyError) -> Target {
        let flattened = body.map { $0 == Byte.question ? Byte.comma : $0 }
        let pairs = try keyValuePairs(flattened).sorted { $0.key.lexicographicallyPrecedes($1.key) }
        var target = Target(subpath: [])
        var query: [UInt8] = []
        for (key, value) in pairs {
            switch key {
            case Byte.hostKey: readHost(value, into: &target, query: &query)
            case Byte.resourceKey: target.subpath = value
            case Byte.modeKey: target.role = try mode(value)
            default: appendParameter(key, value, to: &query)
            }
        }
        guard !target.subpath.isEmpty else { throw .invalidStreamID("no resource (r=app/stream)") }
        if !query.isEmpty {
            target.subpath.append(Byte.question)
            target.subpath += query.dropLast()  // the trailing `&`
        }
        return target
    }

    /// SRS's `srs_net_url_parse_query`: the tokens taken two by two as key and value (a lone
    /// last key has an empty value), the last value of a key winning.
    private static func keyValuePairs(_ text: [UInt8]) throws(StreamKeyError) -> [[UInt8]: [UInt8]] {
        guard let tokens = tokenize(text, limit: 2 * maxPairs) else {
            throw .invalidStreamID("more than \(maxPairs) key/value pairs")
        }
        var pairs: [[UInt8]: [UInt8]] = [:]
        for i in stride(from: 0, to: tokens.count, by: 2) {
            let value: [UInt8] = i + 1 < tokens.count ? Array(tokens[i + 1]) : []
            pairs[Array(tokens[i])] = value
        }
        return pairs
    }

    /// SRS's `srs_strings_split` with the separators `=`, `,`, `&&`, `&`, `;`: the text between
    /// separators, empty tokens included except a last one. Nil beyond `limit` tokens.
    private static func tokenize(_ text: [UInt8], limit: Int) -> [ArraySlice<UInt8>]? {
        var tokens: [ArraySlice<UInt8>] = []
        var start = text.startIndex
        var i = start
        while i < text.endIndex {
            let width = separatorWidth(in: text, at: i)
            guard width > 0 else {
                i += 1
                continue
            }
            tokens.append(text[start..<i])
            guard tokens.count <= limit else { return nil }
            i += width
            start = i
        }
        if start < text.endIndex { tokens.append(text[start...]) }
        return tokens.count <= limit ? tokens : nil
    }

    /// The length of the separator at `i`, 0 when there is none. At one position SRS prefers
    /// `&&` to `&` (it lists `&&` first), so `&&&` is `&&` then `&`.
    private static func separatorWidth(in text: [UInt8], at i: Int) -> Int {
        switch text[i] {
        case Byte.equals, Byte.comma, Byte.semicolon: 1
        case Byte.ampersand: i + 1 < text.endIndex && text[i + 1] == Byte.ampersand ? 2 : 1
        default: 0
        }
    }

    /// `h`: a host (no `/`), the older `app/stream` (one `/`) or `vhost/app/stream` (more).
    /// A host is reported in the query as `vhost=<host>`, as SRS does.
    private static func readHost(_ value: [UInt8], into target: inout Target, query: inout [UInt8]) {
        guard let first = value.firstIndex(of: Byte.slash) else {
            target.vhost = value
            appendParameter(Byte.vhostKey, value, to: &query)
            return
        }
        guard first != value.lastIndex(of: Byte.slash) else {
            target.subpath = value
            return
        }
        let host = Array(value[..<first])
        target.subpath = Array(value[(first + 1)...])
        target.vhost = host
        appendParameter(Byte.vhostKey, host, to: &query)
    }

    /// `m`: `publish` or `request`, ASCII case-insensitive (SRS lowers it with `::tolower`).
    private static func mode(_ value: [UInt8]) throws(StreamKeyError) -> SessionRole {
        let lowered = value.map { (byte: UInt8) -> UInt8 in (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }
        if lowered == Byte.publish { return .publish }
        if lowered == Byte.request { return .play }
        throw .invalidStreamID("unknown mode m=\(text(value.prefix(32))) (allowed: publish, request)")
    }

    private static func appendParameter(_ key: [UInt8], _ value: [UInt8], to query: inout [UInt8]) {
        query += key
        query.append(Byte.equals)
        query += value
        query.append(Byte.ampersand)
    }

    /// SRS's `srs_srt_streamid_to_request` on the path, then the key's rules.
    private static func streamRequest(_ target: Target) throws(StreamKeyError) -> StreamRequest {
        let path = target.subpath[...]
        let app: ArraySlice<UInt8>
        let rest: ArraySlice<UInt8>
        if let slash = path.firstIndex(of: Byte.slash) {
            app = path[..<slash]
            rest = path[(slash + 1)...]
        } else {
            app = ArraySlice(defaultApp.utf8)
            rest = path
        }
        let question = rest.firstIndex(of: Byte.question)
        let stream = rest[..<(question ?? rest.endIndex)]
        let query: ArraySlice<UInt8> = question.map { rest[($0 + 1)...] } ?? []
        let (keyApp, keyStream) = try keyPath(app: app, stream: stream)
        let vhost = target.vhost.map { StreamKey.vhost(fromHost: text($0)) }
        let key = try StreamKey(vhost: vhost, app: keyApp, stream: keyStream)
        return StreamRequest(key: key, query: text(query))
    }

    /// SRS's app and stream as a key's app and stream: a stream holding slashes is split at its
    /// last `/`, the part before it joining the app (the same `/app/stream` to SRS). Empty
    /// segments are refused, as they would make SRS serve a stream no key names.
    private static func keyPath(
        app: ArraySlice<UInt8>, stream: ArraySlice<UInt8>
    ) throws(StreamKeyError) -> (app: String, stream: String) {
        guard !app.isEmpty else { throw .missingApp }
        guard !stream.isEmpty else { throw .missingStream }
        let segments = stream.split(separator: Byte.slash, omittingEmptySubsequences: false)
        guard !segments.contains(where: \.isEmpty) else { throw .invalidCharacters(text(stream)) }
        guard let last = stream.lastIndex(of: Byte.slash) else { return (text(app), text(stream)) }
        return (text(app) + "/" + text(stream[..<last]), text(stream[(last + 1)...]))
    }

    /// The bytes as text. They are whole UTF-8 sequences of the caller's string, cut at ASCII
    /// bytes only (an error message's prefix aside, where a cut character is replaced).
    private static func text(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes the parser looks for.
    private enum Byte {
        static let slash = UInt8(ascii: "/")
        static let question = UInt8(ascii: "?")
        static let equals = UInt8(ascii: "=")
        static let comma = UInt8(ascii: ",")
        static let ampersand = UInt8(ascii: "&")
        static let semicolon = UInt8(ascii: ";")
        static let accessControlPrefix = Array("#!::".utf8)
        static let hostKey = Array("h".utf8)
        static let resourceKey = Array("r".utf8)
        static let modeKey = Array("m".utf8)
        static let vhostKey = Array("vhost".utf8)
        static let publish = Array("publish".utf8)
        static let request = Array("request".utf8)
    }
}
