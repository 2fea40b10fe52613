// libFuzzer entry point for the parsers: every input a client or an origin controls before the
// proxy knows a stream key (ProxyCore), client request heads (ProxyHTTP), HLS playlist rewriting
// (HTTPFLV), SRT handshakes (SRT), STUN and SDP (WebRTC). Built by fuzz/run from the package's own
// targets (fuzz/Package.swift depends on the repository's package) with libFuzzer and
// AddressSanitizer; no main: libFuzzer's drives the entry point below.
//
// The first byte picks the parser; the rest is its input (NUL separates fields where a parser
// takes two or three). Besides "does not crash", each successful parse is checked for the
// invariants the router relies on; a violation stops the fuzzer with the input saved.

@testable import HTTPFLV
@testable import ProxyCore
@testable import ProxyHTTP
@testable import SRT
@testable import WebRTC

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
    let fields = text.split(separator: "\0", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
    func field(_ i: Int) -> String { i < fields.count ? fields[i] : "" }

    switch bytes[0] % 11 {
    case 0:
        if let endpoint = try? ListenEndpoint(parsing: text) {
            check((0...65535).contains(endpoint.port), "port out of range: \(endpoint)")
            check((try? ListenEndpoint(parsing: endpoint.description)) == endpoint, "description does not parse back: \(endpoint)")
        }
    case 1:
        if let request = try? StreamRequest.rtmp(tcUrl: field(0), stream: field(1)) { checkKey(request.key) }
    case 2:
        if let request = try? StreamRequest.http(host: field(0), path: field(1), query: field(2)) { checkKey(request.key) }
    case 3:
        if let sid = try? SRTStreamID(parsing: text) {
            checkKey(sid.request.key)
            check(text.utf8.count <= SRTStreamID.maxLength, "accepted a streamid over the limit")
        }
    case 4:
        if let duration = ConfigDuration(parsing: text) {
            check(duration.duration >= .zero, "negative duration from '\(text)'")
        }
    case 5:
        let query = QueryString(text)
        _ = query.value("vhost")
        _ = query.vhost
        _ = text.percentDecoded()
    case 6:
        checkRequestHead(Array(bytes.dropFirst()))
    case 7:
        checkSRTHandshake(Array(bytes.dropFirst()))
    case 9:
        checkSTUN(Array(bytes.dropFirst()))
    case 10:
        checkSDP(text)
    default:
        checkPlaylist(text)
    }
    return 0
}

/// Small limits, so the 1 KiB inputs reach every limit.
private let headLimits: ClientRequestHead.Limits = {
    var limits = ClientRequestHead.Limits()
    limits.maxRequestLine = 64
    limits.maxHead = 256
    limits.maxHeaderCount = 8
    return limits
}()

private func checkRequestHead(_ input: [UInt8]) {
    let result: ClientRequestHead.ParseResult
    do {
        result = try ClientRequestHead.parse(input, limits: headLimits)
    } catch {
        return
    }
    switch result {
    case .needMore:
        check(input.count <= headLimits.maxHead, "needMore for \(input.count) bytes, over the \(headLimits.maxHead)-byte head limit")
    case .head(let head, let consumed):
        check(consumed > 0 && consumed <= input.count, "consumed \(consumed) of \(input.count) bytes")
        check(consumed <= headLimits.maxHead, "head of \(consumed) bytes passed the \(headLimits.maxHead)-byte limit")
        check(head.headers.count <= headLimits.maxHeaderCount, "\(head.headers.count) header fields passed the limit")
        check(head.minorVersion == 0 || head.minorVersion == 1, "minor version \(head.minorVersion)")
        check(!head.method.isEmpty && !head.target.isEmpty, "empty method or target")
        check(head.path.hasPrefix("/") || head.target == "*", "path '\(head.path)' of target '\(head.target)'")
        _ = (head.query, head.host, head.keepAlive, head.declaresBody)
        let again = try? ClientRequestHead.parse(input[..<consumed], limits: headLimits)
        check(again == .head(head, consumed: consumed), "the consumed prefix parses to \(String(describing: again))")
        // Bytes arriving in pieces: every shorter prefix is incomplete, never refused.
        let cuts = consumed <= 96 ? Array(0..<consumed) : Array(stride(from: 0, to: consumed, by: consumed / 48)) + Array((consumed - 8)..<consumed)
        for cut in cuts {
            let partial: ClientRequestHead.ParseResult?
            do {
                partial = try ClientRequestHead.parse(input[..<cut], limits: headLimits)
            } catch {
                check(false, "the first \(cut) of \(consumed) head bytes throw \(error)")
                partial = nil
            }
            check(partial == .needMore, "the first \(cut) of \(consumed) head bytes give \(String(describing: partial))")
        }
    }
}

private let rewriter = HLSPlaylistRewriter(parameter: "spsid", sessionID: "S1", ownAuthorities: ["origin:8080", "Origin"])

private func checkPlaylist(_ text: String) {
    _ = HLSPlaylistRewriter.isPlaylist(Substring(text))
    let once = rewriter.rewrite(text)
    let inLines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    let outLines = once.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    check(inLines.count == outLines.count, "\(inLines.count) lines became \(outLines.count)")
    for (n, (input, output)) in zip(inLines, outLines).enumerated() {
        // The line without a byte-order mark (first line only), its CR LF ending and surrounding blanks.
        var line = input[...]
        if n == 0, line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }
        if n < inLines.count - 1, line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        let trimmed = line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        if trimmed.starts(with: "#EXT".utf8) { continue }
        guard let first = trimmed.first, first != UInt8(ascii: "#"), trimmed.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) else {
            check(input.elementsEqual(output), "blank or comment line '\(String(decoding: input, as: UTF8.self))' changed")
            continue
        }
        // Absolute URLs and network-path references keep their form unless they name the origin.
        if hasScheme(trimmed) || trimmed.starts(with: "//".utf8) { continue }
        let after = String(decoding: output, as: UTF8.self)
        check(after.contains("spsid=S1"), "URI line '\(String(decoding: input, as: UTF8.self))' became '\(after)'")
    }
    let twice = rewriter.rewrite(once)
    check(Array(twice.utf8) == Array(once.utf8), "not idempotent: '\(text)' -> '\(once)' -> '\(twice)'")
}

/// RFC 3986 `scheme ":"` at the start.
private func hasScheme(_ s: some Collection<UInt8>) -> Bool {
    guard let colon = s.firstIndex(of: UInt8(ascii: ":")) else { return false }
    let scheme = s[s.startIndex..<colon]
    guard let first = scheme.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first | 0x20) else { return false }
    return scheme.allSatisfy { c in
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
            || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
    }
}

/// SRT handshakes (the SRT module's parser): a parse serializes back to
/// the same bytes (up to a trailing partial word, which is never an extension), and the Stream ID
/// is within its limit and routes to a valid key or a typed error.
private func checkSRTHandshake(_ input: [UInt8]) {
    guard let hs = try? SRTHandshake(parsing: input) else { return }
    let out = hs.serialized()
    let used = SRTHandshake.minimumSize + hs.extensions.reduce(0) { $0 + 4 + $1.content.count }
    check(used <= input.count && input.count - used < 4, "parsed \(used) of \(input.count) bytes")
    check(out == Array(input.prefix(used)), "does not serialize back to its bytes")
    check(hs.extensions.count <= SRTHandshake.maxExtensions, "\(hs.extensions.count) extensions")
    if let sid = try? hs.streamID() {
        check(sid.utf8.count <= SRTHandshake.maxStreamIDLength + 3 * 128, "stream id of \(sid.utf8.count) bytes")
        if let parsed = try? SRTStreamID(parsing: sid) { checkKey(parsed.request.key) }
    }
}

private func checkKey(_ key: StreamKey) {
    check(!key.app.isEmpty && !key.stream.isEmpty && !key.vhost.isEmpty, "empty part in \(key)")
    check(key.description.utf8.count <= StreamKey.maxLength, "key over the limit: \(key.description.utf8.count) bytes")
    check(!key.stream.contains("/") && !key.vhost.contains("/"), "slash in stream or vhost: \(key)")
    check(!key.description.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }, "control character in \(key)")
    check((try? StreamKey(vhost: key.vhost, app: key.app, stream: key.stream)) == key, "key does not rebuild: \(key)")
}

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant: \(message())") }
}

/// The WebRTC module's STUN USERNAME reader: never reads past the datagram; a username it
/// returns is within the datagram and its ufrag is the part before the first ':'.
private func checkSTUN(_ input: [UInt8]) {
    switch STUNMessage.inspect(input) {
    case .binding(let ufrag, let username):
        check(input.count >= STUNMessage.headerSize && username.utf8.count <= input.count - STUNMessage.headerSize - 4, "username longer than the message")
        check(username.hasPrefix(ufrag + ":") && !ufrag.isEmpty && !ufrag.contains(":"), "ufrag '\(ufrag)' is not the part of '\(username)' before ':'")
    case .notSTUN, .otherSTUN, .malformed:
        break
    }
    // The readers of a several-address session (transaction id, response, USE-CANDIDATE) stay in the datagram.
    input.withUnsafeBytes { bytes in
        if STUNMessage.hasUseCandidate(bytes) { check(STUNMessage.isBindingRequest(bytes), "USE-CANDIDATE outside a Binding Request") }
        if STUNMessage.isBindingResponse(bytes) || STUNMessage.isBindingRequest(bytes) { _ = STUNMessage.transactionID(bytes) }
    }
    // A valid request made from the fuzz text is always read back.
    let name = String(decoding: input.prefix(64).filter { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }, as: UTF8.self)
    if !name.isEmpty {
        check(STUNMessage.inspect(STUNMessage.bindingRequest(username: name + ":x")) == .binding(ufrag: name, username: name + ":x"), "own request not read back: \(name)")
        let nominated = STUNMessage.bindingRequest(username: name + ":x", transactionID: Array(input.prefix(12)) + Array(repeating: 0, count: 12 - min(12, input.count)), nominate: true)
        nominated.withUnsafeBytes { check(STUNMessage.hasUseCandidate($0), "own USE-CANDIDATE not read back: \(name)") }
    }
}

/// The WebRTC module's SDP edits: an accepted offer has no candidate left; a rewritten answer
/// names only the proxy in its candidates and m= lines.
private func checkSDP(_ text: String) {
    if let offer = try? SDPRewriter.offer(text) {
        let lines = offer.sdp.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" })
        check(!lines.contains { $0.hasPrefix("a=candidate:") }, "a candidate line survived the offer rewrite")
        check(SDPRewriter.isICEChars(offer.ufrag), "accepted a bad ufrag")
    }
    let proxy = SDPRewriter.ProxyAddress(host: "192.0.2.7", port: 18000)
    if let answer = try? SDPRewriter.answer(text, backend: .init(hosts: ["127.0.0.1"], ports: [8000]), proxy: proxy) {
        check((1...65535).contains(answer.backendPort), "backend port out of range")
        for line in answer.sdp.split(separator: "\r\n") where line.hasPrefix("a=candidate:") {
            check(line.contains(" 192.0.2.7 18000 typ host"), "a candidate not pointing at the proxy: \(line)")
        }
    }
}
