/// Rewrites the URIs of an HLS playlist (media or master) so every request a player makes for
/// it carries the proxy's play-session id: URI lines (segments, variant playlists) and the
/// `URI="..."` attributes of tags (EXT-X-KEY, EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF,
/// EXT-X-PART, EXT-X-PRELOAD-HINT, ...).
///
/// - Relative (`s-1.ts`) and absolute-path (`/live/s-1.ts`) URIs get `parameter=session` added
///   to their query (an existing value of that parameter is replaced).
/// - Absolute URLs whose authority is one of `ownAuthorities` (the backend's own address) become
///   absolute paths with the parameter, so the player keeps coming through the proxy.
/// - Other absolute URLs (a CDN, `data:`, `skd:`) are left alone: the proxy is not on their path.
///
/// Pure text processing with no Foundation, so the fuzzer builds it with the core parsers.
public struct HLSPlaylistRewriter: Sendable {
    public var parameter: String
    public var sessionID: String
    /// Lowercased `host:port` (and `host` for default ports) forms naming the backend.
    public var ownAuthorities: Set<String>

    public init(parameter: String, sessionID: String, ownAuthorities: Set<String> = []) {
        self.parameter = parameter
        self.sessionID = sessionID
        self.ownAuthorities = Set(ownAuthorities.map { $0.lowercased() })
    }

    /// Whether a body looks like a playlist (`#EXTM3U` first, after an optional byte-order mark).
    public static func isPlaylist(_ text: Substring) -> Bool {
        var t = text
        if t.hasPrefix("\u{FEFF}") { t = t.dropFirst() }
        return t.hasPrefix("#EXTM3U")
    }

    /// The playlist with every URI rewritten; line endings are kept as they were.
    public func rewrite(_ playlist: String) -> String {
        var out = ""
        out.reserveCapacity(playlist.utf8.count + playlist.utf8.count / 4)
        var rest = Substring(playlist)
        while !rest.isEmpty {
            let lineEnd = rest.firstIndex(where: { $0 == "\n" || $0 == "\r\n" }) ?? rest.endIndex
            let line = rest[rest.startIndex..<lineEnd]
            out += rewriteLine(line)
            if lineEnd < rest.endIndex {
                out.append(rest[lineEnd])
                rest = rest[rest.index(after: lineEnd)...]
            } else {
                rest = rest[rest.endIndex...]
            }
        }
        return out
    }

    private func rewriteLine(_ line: Substring) -> String {
        let trimmed = line.trimmingSpaces()
        if trimmed.isEmpty { return String(line) }
        if trimmed.hasPrefix("#") {
            guard trimmed.hasPrefix("#EXT"), line.contains("URI=\"") else { return String(line) }
            return rewriteURIAttributes(line)
        }
        return rewriteURI(String(trimmed))
    }

    private func rewriteURIAttributes(_ line: Substring) -> String {
        var out = ""
        var rest = line
        while let r = rest.firstRange(of: "URI=\"") {
            out += rest[rest.startIndex..<r.upperBound]
            let valueStart = r.upperBound
            guard let close = rest[valueStart...].firstIndex(of: "\"") else {
                rest = rest[valueStart...]
                break
            }
            out += rewriteURI(String(rest[valueStart..<close]))
            out += "\""
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        return out
    }

    /// One URI rewritten as described on the type.
    public func rewriteURI(_ uri: String) -> String {
        if let scheme = uri.schemePrefixLength() {
            let lower = uri.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return uri }
            let afterScheme = uri.dropFirst(scheme)
            let authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            guard ownAuthorities.contains(authority.lowercased()) else { return uri }
            var path = String(afterScheme.dropFirst(authority.count))
            if path.isEmpty || path.hasPrefix("?") || path.hasPrefix("#") { path = "/" + path }
            return addingParameter(to: path)
        }
        return addingParameter(to: uri)
    }

    private func addingParameter(to uri: String) -> String {
        var base = Substring(uri)
        var fragment: Substring = ""
        if let hash = base.firstIndex(of: "#") {
            fragment = base[hash...]
            base = base[base.startIndex..<hash]
        }
        let pair = parameter + "=" + sessionID
        guard let q = base.firstIndex(of: "?") else { return base + "?" + pair + fragment }
        let path = base[base.startIndex..<q]
        let kept = base[base.index(after: q)...].split(separator: "&", omittingEmptySubsequences: true)
            .filter { $0 != parameter && !$0.hasPrefix(parameter + "=") }
        return path + "?" + (kept + [Substring(pair)]).joined(separator: "&") + fragment
    }
}

extension StringProtocol {
    fileprivate func trimmingSpaces() -> SubSequence {
        var s = self[startIndex...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }

    /// Length of `scheme:` at the start (RFC 3986 scheme syntax), or nil for a relative reference.
    fileprivate func schemePrefixLength() -> Int? {
        var n = 0
        for c in self {
            if c == ":" { return n > 0 ? n + 1 + (self.dropFirst(n + 1).hasPrefix("//") ? 2 : 0) : nil }
            let ok = c.isASCII && (c.isLetter || (n > 0 && (c.isNumber || c == "+" || c == "-" || c == ".")))
            if !ok { return nil }
            n += 1
        }
        return nil
    }
}
