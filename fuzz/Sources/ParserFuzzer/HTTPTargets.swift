// HTTP: CORS, the HTTP-FLV request reader and request heads, HLS session ids and redirects,
// the static file root.

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import HTTPFLV
@testable import ProxyCore
@testable import ProxyHTTP

enum HTTPTargets {
    // MARK: - CORS

    /// CORS answers: one Allow-Origin, which is the configured value or (echoing profiles with
    /// `*`) the request's one well-formed Origin, with `Vary: Origin`; nothing from the request
    /// that could end a header; a config that decodes has a single-line, non-empty origin.
    static func cors(_ input: FuzzInput) {
        var r = input.reader
        let flags = r.byte()
        let f = FuzzInput(bytes: r.rest()).fields(4)
        var config = CORSConfig()
        config.enabled = flags & 1 == 0
        config.allowOrigin = flags & 2 == 0 ? "*" : "https://app.example"
        let profile: CORSPolicy.Profile = flags & 4 == 0 ? .signalling : .playback
        let policy = CORSPolicy(config: config, profile: profile)
        var request = HTTPHeaders()
        for origin in f[0].split(separator: "\n", omittingEmptySubsequences: false) where flags & 8 == 0 || !origin.isEmpty {
            request.add(name: "Origin", value: String(origin))
        }
        if !f[1].isEmpty { request.add(name: "Access-Control-Request-Private-Network", value: f[1]) }
        let preflight = flags & 16 != 0
        let out = policy.headers(for: request, preflight: preflight)
        guard config.enabled else { return check(out.isEmpty, "headers from a disabled policy") }
        let allow = out.filter { $0.0 == "Access-Control-Allow-Origin" }.map(\.1)
        check(allow.count == 1, "\(allow.count) Allow-Origin headers")
        let origin = CORSPolicy.origin(request)
        if let origin {
            check(request["origin"].count == 1 && origin.utf8.count <= CORSPolicy.maxOriginLength
                && origin.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") }, "origin '\(origin)' accepted")
        }
        if profile.echoesOrigin, config.allowOrigin == "*", let origin {
            check(allow == [origin] && out.contains { $0 == ("Vary", "Origin") }, "origin not echoed with Vary")
        } else {
            check(allow == [config.allowOrigin], "Allow-Origin '\(allow)' is not the configured one")
        }
        check(out.allSatisfy { isFieldValue($0.1) }, "a header value from the request that is not a field value")
        let pna = out.contains { $0.0 == "Access-Control-Allow-Private-Network" }
        check(pna == (preflight && profile.allowsPrivateNetwork && request.first(name: "access-control-request-private-network")?.lowercased() == "true"), "Private-Network answer")
        var headers: HTTPHeaders = ["Access-Control-Allow-Origin": "https://backend.example"]
        policy.apply(to: &headers, request: request, preflight: preflight)
        check(headers["Access-Control-Allow-Origin"] == allow, "apply left \(headers["Access-Control-Allow-Origin"])")

        // The config as the YAML loader hands it over (JSON here).
        let json = "{\"enabled\": \(flags & 32 == 0), \"allow_origin\": \(HTTPFLVSession.jsonString(f[2]))\(f[3].isEmpty ? "" : ", " + f[3])}"
        if let decoded = try? JSONDecoder().decode(CORSConfig.self, from: Data(json.utf8)) {
            check(!decoded.allowOrigin.isEmpty && !decoded.allowOrigin.contains { $0 == "\r" || $0 == "\n" }, "allow_origin '\(decoded.allowOrigin)' accepted")
        }
    }

    // MARK: - Request reader

    final class Collector: ChannelInboundHandler {
        typealias InboundIn = ClientRequestHead
        var heads: [ClientRequestHead] = []
        var rejection: String?

        func channelRead(context: ChannelHandlerContext, data: NIOAny) { heads.append(unwrapInboundIn(data)) }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let r = event as? HTTPRequestReader.Rejection { rejection = r.refusal.label }
        }
    }

    static let readerLimits: ClientRequestHead.Limits = {
        var limits = ClientRequestHead.Limits()
        limits.maxRequestLine = 96
        limits.maxHead = 400
        limits.maxHeaderCount = 6
        return limits
    }()

    static func read(_ pieces: [[UInt8]]) -> (heads: [ClientRequestHead], rejection: String?) {
        let collector = Collector()
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        try! channel.pipeline.syncOperations.addHandlers([HTTPRequestReader(limits: readerLimits, headerTimeout: .seconds(10)), collector])
        for piece in pieces { _ = try? channel.writeInbound(ByteBuffer(bytes: piece)) }
        return (collector.heads, collector.rejection)
    }

    /// The HTTP-FLV connection's request reader, its bytes cut into reads anywhere: the same
    /// heads (pipelined ones too, up to one announcing a body) and the same refusal as parsing the
    /// whole input head after head.
    static func requestReader(_ input: FuzzInput) {
        var r = input.reader
        var cutReader = r
        _ = (r.byte(), r.byte())
        let data = r.rest()
        var expected: (heads: [ClientRequestHead], rejection: String?) = ([], nil)
        var rest = data[...]
        parsing: while !rest.isEmpty {
            do {
                switch try ClientRequestHead.parse(rest, limits: readerLimits) {
                case .needMore: break parsing
                case .head(let head, let consumed):
                    expected.heads.append(head)
                    rest = rest.dropFirst(consumed)
                    if head.declaresBody { break parsing }
                }
            } catch {
                expected.rejection = HTTPRefusal(error).label
                break
            }
        }
        let whole = read([data])
        let cut = read(RTMPTargets.pieces(data, at: RTMPTargets.cuts(&cutReader, count: 2, length: data.count)))
        check(whole.heads == expected.heads && whole.rejection == expected.rejection, "the reader differs from parse: \(whole.heads.count) heads, \(String(describing: whole.rejection))")
        check(cut.heads == expected.heads && cut.rejection == expected.rejection, "cut into reads: \(cut.heads.count) heads, \(String(describing: cut.rejection)); whole: \(expected.heads.count), \(String(describing: expected.rejection))")
    }

    // MARK: - HTTP-FLV heads and HLS sessions

    static let sessionID = "0123456789abcdef0123456789abcdef"

    /// A request head as HTTP-FLV and HLS use it: the session parameter is dropped from the target
    /// forwarded to the backend and appears exactly once in the redirect that starts a session,
    /// whose Location names a path on the proxy (never `//host` or `/\host`); extensions are
    /// lower-case; a stream it names is a valid key.
    static func flvHead(_ input: FuzzInput) {
        guard case .head(let head, _)? = try? ClientRequestHead.parse(input.bytes) else { return }
        let kept = HTTPFLVSession.originForm(head, droppingSession: false)
        check(kept == (head.query.isEmpty ? head.path : head.path + "?" + head.query), "origin form '\(kept)'")
        let dropped = HTTPFLVSession.originForm(head, droppingSession: true)
        let droppedQuery = dropped.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
        check(!droppedQuery.split(separator: "&").contains { $0 == "spsid" || $0.hasPrefix("spsid=") }, "session parameter left in '\(dropped)'")
        let local = HTTPFLVSession.localReference(dropped)
        check(local == dropped || local == "/." + dropped, "local reference '\(local)' of '\(dropped)'")
        let location = HLSPlaylistRewriter(parameter: HLSSessionStore.parameter, sessionID: sessionID).rewriteURI(local)
        check(!location.hasPrefix("//") && !location.hasPrefix("/\\") && (location.hasPrefix("/") || head.target == "*"), "Location '\(location)' may name another host")
        check(isFieldValue(location), "Location '\(location)' is not a field value")
        let query = location.split(separator: "#", maxSplits: 1).first?.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
        let sessions = query.split(separator: "&").filter { $0 == "spsid" || $0.hasPrefix("spsid=") }
        check(sessions == ["spsid=\(sessionID)"], "Location '\(location)' carries \(sessions)")
        let ext = HTTPFLVSession.fileExtension(head.path)
        check(ext == ext.lowercased() && !ext.contains("/") && !ext.contains("."), "extension '\(ext)'")
        if let id = QueryString(head.query).value(HLSSessionStore.parameter) {
            check(HLSSessionStore.isValidID(id) == (id.utf8.count == 32 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }), "isValidID('\(id)')")
        }
        if let request = try? StreamRequest.http(host: head.host, path: head.path, query: head.query) { checkKey(request.key) }
    }

    /// The registry record of an HLS session: what decodes is a valid stream, and encodes to JSON
    /// that decodes the same. Any URI a playlist could carry keeps one session parameter after a
    /// rewrite and is not changed by a second one.
    static func hlsSession(_ input: FuzzInput) {
        let f = input.fields(2)
        if let record = try? JSONDecoder().decode(HLSSessionStore.Record.self, from: Data(f[0].utf8)) {
            checkKey(record.stream)
            let again = (try? JSONEncoder().encode(record)).flatMap { try? JSONDecoder().decode(HLSSessionStore.Record.self, from: $0) }
            check(again?.stream == record.stream && again?.backend == record.backend && again?.query == record.query, "HLS record does not read back")
        }
        let rewriter = HLSPlaylistRewriter(parameter: HLSSessionStore.parameter, sessionID: sessionID, ownAuthorities: ["origin:8080"])
        let once = rewriter.rewriteURI(f[1])
        check(rewriter.rewriteURI(once) == once, "rewriteURI not idempotent: '\(f[1])' -> '\(once)'")
    }

    // MARK: - Static files

    /// A tree with ways out of the root: `..`, symbolic links to a sibling directory, to one whose
    /// name starts like the root's, to `/etc`, and (for the second root, whose name has a
    /// precomposed é) to a sibling named with the decomposed spelling of the same name.
    static let staticTree: (roots: [StaticFileRoot], real: [String]) = {
        let base = NSTemporaryDirectory() + "streamproxy-fuzz-static-\(getpid())"
        let fm = FileManager.default
        try? fm.removeItem(atPath: base)
        var roots: [StaticFileRoot] = []
        var real: [String] = []
        for name in ["root", "caf\u{E9}"] {
            let root = base + "/" + name
            for dir in ["", "/sub", "/sub/deeper", "/empty", "/%41", "/a b"] { try! fm.createDirectory(atPath: root + dir, withIntermediateDirectories: true) }
            for file in ["/index.html", "/a.txt", "/sub/index.html", "/sub/b.css", "/sub/deeper/c.m3u8", "/%41/d.ts", "/a b/e.flv", "/.hidden"] {
                _ = fm.createFile(atPath: root + file, contents: Data("x".utf8))
            }
            for outside in [base + "/outside-\(name)", base + "/\(name)X", base + "/" + (name == "root" ? "root" : "cafe\u{301}") + "-sibling"] {
                try! fm.createDirectory(atPath: outside, withIntermediateDirectories: true)
                _ = fm.createFile(atPath: outside + "/secret.txt", contents: Data("secret".utf8))
                _ = fm.createFile(atPath: outside + "/index.html", contents: Data("secret".utf8))
            }
            try! fm.createDirectory(atPath: base + "/cafe\u{301}", withIntermediateDirectories: true)
            _ = fm.createFile(atPath: base + "/cafe\u{301}/secret.txt", contents: Data("secret".utf8))
            try? fm.createSymbolicLink(atPath: root + "/in", withDestinationPath: "sub")
            try? fm.createSymbolicLink(atPath: root + "/in-file", withDestinationPath: "sub/b.css")
            try? fm.createSymbolicLink(atPath: root + "/out", withDestinationPath: "../outside-\(name)")
            try? fm.createSymbolicLink(atPath: root + "/out-file", withDestinationPath: "../outside-\(name)/secret.txt")
            try? fm.createSymbolicLink(atPath: root + "/prefix", withDestinationPath: "../\(name)X")
            try? fm.createSymbolicLink(atPath: root + "/etc", withDestinationPath: "/etc")
            try? fm.createSymbolicLink(atPath: root + "/same", withDestinationPath: "../cafe\u{301}")
            try? fm.createSymbolicLink(atPath: root + "/sub/up", withDestinationPath: "../..")
            try? fm.createSymbolicLink(atPath: root + "/loop", withDestinationPath: "loop")
            roots.append(try! StaticFileRoot(path: root))
            real.append(realPath(root)!)
        }
        return (roots, real)
    }()

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// The static file root never serves a file outside itself: the file it names is a regular
    /// file whose real path (by realpath(3), compared as bytes) is under the root's real path.
    static func staticFiles(_ input: FuzzInput) {
        var r = input.reader
        let which = Int(r.byte() & 1)
        let tail = String(decoding: r.rest(), as: UTF8.self)
        let path = tail.hasPrefix("/") ? tail : "/" + tail
        let root = staticTree.roots[which]
        let lookup = root.lookup(path)
        let decoded = path.removingPercentEncoding ?? path
        if decoded.split(separator: "/").contains("..") || decoded.unicodeScalars.contains(where: { $0 == "\0" || $0 == "\\" }) {
            check(lookup == .forbidden, "'\(path)' (.. or NUL or backslash) gives \(lookup)")
        }
        guard case .file(let file, let type) = lookup else { return }
        let real = realPath(file)
        let rootPrefix = Array((staticTree.real[which] + "/").utf8)
        check(real.map { Array($0.utf8).starts(with: rootPrefix) } == true, "'\(path)' resolves to '\(real ?? file)', outside the root \(staticTree.real[which])")
        var isDirectory: ObjCBool = false
        check(FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) && !isDirectory.boolValue, "'\(path)' gives '\(file)', not a file")
        check(!type.isEmpty && isFieldValue(type), "content type '\(type)'")
    }
}
