/// Rewrites the URIs of an HLS playlist (media or master) so every request a player makes for
/// it carries the proxy's play-session id: URI lines (segments, variant playlists) and the
/// `URI="..."` attributes of tags (EXT-X-KEY, EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF,
/// EXT-X-PART, EXT-X-PRELOAD-HINT, ...).
///
/// - Relative (`s-1.ts`) and absolute-path (`/live/s-1.ts`) URIs get `parameter=session` added
///   to their query (an existing value of that parameter is replaced).
/// - Absolute URLs (`http://host/...`) and network-path references (`//host/...`) whose authority
///   is one of `ownAuthorities` (the backend's own address) become absolute paths with the
///   parameter, so the player keeps coming through the proxy.
/// - Other absolute URLs and network-path references (a CDN, `data:`, `skd:`) and empty URIs are
///   left alone: the proxy is not on their path.
///
/// Only the URI changes: the spaces around a URI line, comments, blank lines and line endings
/// are kept byte for byte, so rewriting a rewritten playlist changes nothing. The work is done on
/// UTF-8 bytes (every delimiter is ASCII), never on `Character`s, whose grapheme clusters could
/// swallow a delimiter next to a combining or prepended scalar.
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
        var t = text.utf8[...]
        if t.starts(with: [0xEF, 0xBB, 0xBF]) { t = t.dropFirst(3) }
        return t.starts(with: "#EXTM3U".utf8)
    }

    /// The playlist with every URI rewritten; line endings are kept as they were.
    public func rewrite(_ playlist: String) -> String {
        rewrite(playlist, limit: .max)!
    }

    /// The rewritten playlist, or nil as soon as it would be longer than `limit` bytes (a
    /// playlist of very short lines grows by the session parameter on every one of them).
    public func rewrite(_ playlist: String, limit: Int) -> String? {
        let bytes = Array(playlist.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 4)
        // A byte-order mark is not part of the first line: `#EXTM3U` after it stays a tag.
        var lineStart = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        out.append(contentsOf: bytes[..<lineStart])
        while lineStart < bytes.count {
            let lf = bytes[lineStart...].firstIndex(of: ASCII.lf)
            var contentEnd = lf ?? bytes.count
            if lf != nil, contentEnd > lineStart, bytes[contentEnd - 1] == ASCII.cr { contentEnd -= 1 }
            rewriteLine(bytes[lineStart..<contentEnd], into: &out)
            let next = lf.map { $0 + 1 } ?? bytes.count
            out.append(contentsOf: bytes[contentEnd..<next])
            guard out.count <= limit else { return nil }
            lineStart = next
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// One URI rewritten as described on the type.
    public func rewriteURI(_ uri: String) -> String {
        var out: [UInt8] = []
        rewriteURI(Array(uri.utf8)[...], into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Lines

    private func rewriteLine(_ line: ArraySlice<UInt8>, into out: inout [UInt8]) {
        let core = line.trimmingSpaces()
        guard let first = core.first else { return out.append(contentsOf: line) }
        if first == ASCII.hash {
            if core.starts(with: "#EXT".utf8) {
                rewriteURIAttributes(line, into: &out)
            } else {
                out.append(contentsOf: line)
            }
            return
        }
        out.append(contentsOf: line[line.startIndex..<core.startIndex])
        rewriteURI(core, into: &out)
        out.append(contentsOf: line[core.endIndex..<line.endIndex])
    }

    /// A tag line with the value of each `URI="..."` attribute rewritten. An attribute starts after
    /// the tag's `:` or a `,` outside quotes (spaces allowed), so `URI="` inside another
    /// attribute's value or name is not one.
    private func rewriteURIAttributes(_ line: ArraySlice<UInt8>, into out: inout [UInt8]) {
        let attribute = Array("URI=\"".utf8)
        var i = line.startIndex
        var inQuotes = false
        while i < line.endIndex {
            let c = line[i]
            out.append(c)
            i += 1
            if c == ASCII.quote {
                inQuotes.toggle()
            } else if !inQuotes, c == ASCII.colon || c == ASCII.comma {
                let name = line[i...].drop { $0 == ASCII.space || $0 == ASCII.tab }
                guard name.starts(with: attribute) else { continue }
                out.append(contentsOf: line[i..<name.startIndex])
                out.append(contentsOf: attribute)
                let valueStart = name.startIndex + attribute.count
                guard let close = line[valueStart...].firstIndex(of: ASCII.quote) else {
                    // No closing quote: not an attribute list this rewriter understands; copy the rest.
                    out.append(contentsOf: line[valueStart...])
                    return
                }
                rewriteURI(line[valueStart..<close], into: &out)
                out.append(ASCII.quote)
                i = close + 1
            }
        }
    }

    // MARK: URIs

    private func rewriteURI(_ uri: ArraySlice<UInt8>, into out: inout [UInt8]) {
        if uri.isEmpty { return }
        var afterAuthorityMark: ArraySlice<UInt8>
        if let schemeEnd = uri.schemeEnd() {
            let scheme = uri[uri.startIndex..<schemeEnd].map(ASCII.lowercased)
            let rest = uri[(schemeEnd + 1)...]
            guard scheme == Array("http".utf8) || scheme == Array("https".utf8), rest.starts(with: "//".utf8) else {
                return out.append(contentsOf: uri)
            }
            afterAuthorityMark = rest.dropFirst(2)
        } else if uri.starts(with: "//".utf8) {
            afterAuthorityMark = uri.dropFirst(2)
        } else {
            return addingParameter(to: uri, into: &out)
        }
        let authority = afterAuthorityMark.prefix { $0 != ASCII.slash && $0 != ASCII.question && $0 != ASCII.hash }
        guard ownAuthorities.contains(String(decoding: authority.map(ASCII.lowercased), as: UTF8.self)) else {
            return out.append(contentsOf: uri)
        }
        let path = afterAuthorityMark[authority.endIndex...]
        var absolutePath: [UInt8] = []
        if path.first != ASCII.slash {
            absolutePath.append(ASCII.slash)  // `http://host`, `http://host?q`, `http://host#f`
        } else if path.dropFirst().first == ASCII.slash {
            // `http://host//x`: the path `//x` alone would name the host `x`; `/.//x` is the same path.
            absolutePath += "/.".utf8
        }
        absolutePath += path
        addingParameter(to: absolutePath[...], into: &out)
    }

    private func addingParameter(to uri: ArraySlice<UInt8>, into out: inout [UInt8]) {
        let fragmentStart = uri.firstIndex(of: ASCII.hash) ?? uri.endIndex
        let base = uri[uri.startIndex..<fragmentStart]
        let pair = Array((parameter + "=" + sessionID).utf8)
        let name = Array(parameter.utf8)
        if let q = base.firstIndex(of: ASCII.question) {
            out.append(contentsOf: base[base.startIndex...q])
            for field in base[(q + 1)...].split(separator: ASCII.ampersand, omittingEmptySubsequences: true) {
                if field.elementsEqual(name) || field.starts(with: name + [ASCII.equals]) { continue }
                out.append(contentsOf: field)
                out.append(ASCII.ampersand)
            }
        } else {
            out.append(contentsOf: base)
            out.append(ASCII.question)
        }
        out.append(contentsOf: pair)
        out.append(contentsOf: uri[fragmentStart...])
    }
}

private enum ASCII {
    static let lf = UInt8(ascii: "\n")
    static let cr = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let hash = UInt8(ascii: "#")
    static let quote = UInt8(ascii: "\"")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let slash = UInt8(ascii: "/")
    static let question = UInt8(ascii: "?")
    static let ampersand = UInt8(ascii: "&")
    static let equals = UInt8(ascii: "=")

    static func lowercased(_ c: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) ? c | 0x20 : c
    }

    static func isLetter(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(lowercased(c))
    }
}

extension ArraySlice<UInt8> {
    fileprivate func trimmingSpaces() -> ArraySlice<UInt8> {
        var s = self
        while let f = s.first, f == ASCII.space || f == ASCII.tab { s = s.dropFirst() }
        while let l = s.last, l == ASCII.space || l == ASCII.tab { s = s.dropLast() }
        return s
    }

    /// The index of the `:` ending an RFC 3986 scheme at the start, or nil for a relative reference.
    fileprivate func schemeEnd() -> Int? {
        guard let first, ASCII.isLetter(first) else { return nil }
        for i in indices.dropFirst() {
            let c = self[i]
            if c == ASCII.colon { return i }
            guard ASCII.isLetter(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
                || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
            else { return nil }
        }
        return nil
    }
}
