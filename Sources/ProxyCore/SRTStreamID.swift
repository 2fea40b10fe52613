import Foundation

/// An SRT caller's Stream ID, read as SRS reads it:
/// - `#!::r=app/stream,m=publish,h=vhost,k=v`: access-control form (`m` is `publish` or `request`);
/// - `#!::h=app/stream` and `#!::h=vhost/app/stream`: SRS's older form with the path in `h`;
/// - `app/stream[?query]`, or a bare `stream` (app `live`).
/// Keys other than r, h and m are kept as the query (`k=v&...`) for the backend.
public struct SRTStreamID: Hashable, Sendable {
    /// The Stream ID is at most 512 bytes (SRT's limit).
    public static let maxLength = 512
    public static let defaultApp = "live"

    public var request: StreamRequest
    /// `m=publish` publishes, `m=request` (the default) plays.
    public var role: SessionRole

    public init(parsing sid: String) throws(StreamKeyError) {
        guard sid.utf8.count <= Self.maxLength else { throw .invalidStreamID("longer than \(Self.maxLength) bytes") }
        guard sid.hasPrefix("#!::") else {
            let (path, query) = Substring(sid).splitQuery()
            let p = String(path).trimmingSlashes()
            let full = p.contains("/") ? p : "\(Self.defaultApp)/\(p)"
            self.request = try Self.request(path: full, vhost: nil, query: String(query))
            self.role = .play
            return
        }

        var path: String?
        var vhost: String?
        var role = SessionRole.play
        var params: [String] = []
        for item in sid.dropFirst(4).split(separator: ",", maxSplits: 64) {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = kv[0].trimmingCharacters(in: .whitespaces)
            let value = kv.count > 1 ? String(kv[1]) : ""
            switch name {
            case "r":
                path = value
            case "h":
                let slashes = value.filter { $0 == "/" }.count
                if slashes == 0 {
                    vhost = value
                } else if slashes == 1 {
                    path = path ?? value
                } else {
                    let first = value.firstIndex(of: "/")!
                    vhost = String(value[value.startIndex..<first])
                    path = path ?? String(value[value.index(after: first)...])
                }
            case "m":
                switch value.lowercased() {
                case "publish": role = .publish
                case "request": role = .play
                default: throw .invalidStreamID("unknown mode m=\(value.prefix(32)) (allowed: publish, request)")
                }
            case "":
                continue
            default:
                params.append(value.isEmpty && kv.count == 1 ? name : "\(name)=\(value)")
            }
        }
        guard let path else { throw .invalidStreamID("no resource (r=app/stream)") }
        let (p, inlineQuery) = Substring(path).splitQuery()
        // Forward the vhost only when the key uses it (a dotless h= is not a vhost name).
        if let vhost, StreamKey.vhost(fromHost: vhost) != StreamKey.defaultVhost { params.insert("vhost=\(vhost)", at: 0) }
        let query = QueryString.join(String(inlineQuery), params.joined(separator: "&"))
        self.request = try Self.request(path: String(p), vhost: vhost, query: query)
        self.role = role
    }

    private static func request(path: String, vhost: String?, query: String) throws(StreamKeyError) -> StreamRequest {
        let trimmed = path.trimmingSlashes()
        guard let slash = trimmed.lastIndex(of: "/") else { throw .missingApp }
        // A vhost named by h= is a host name (the dot rule applies); else a vhost= key is taken as given.
        let vh = vhost.map { StreamKey.vhost(fromHost: $0) } ?? QueryString(query).vhost
        let key = try StreamKey(
            vhost: vh, app: String(trimmed[trimmed.startIndex..<slash]),
            stream: String(trimmed[trimmed.index(after: slash)...]))
        return StreamRequest(key: key, query: query)
    }
}
