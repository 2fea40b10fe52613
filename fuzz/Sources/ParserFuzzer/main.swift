// libFuzzer entry point for every parser network input reaches. Built by fuzz/run from the
// package's own targets (fuzz/Package.swift depends on the repository's package; Host and the
// Redis registry are compiled from their folders) with libFuzzer and AddressSanitizer; no main:
// libFuzzer's drives the entry point below.
//
// The first byte picks the target (modulo their number: `targets` below, whose first eleven keep
// the numbers the seed corpus was made with); the rest is its input. Besides "does not crash",
// each target checks the invariants the proxy relies on (round trips, the same result however
// the input is cut into reads, never outside the static root, no media without consent, ...); a
// violation stops the fuzzer with the input saved. `FUZZ_TARGET=<name>` runs one target only
// (every input goes to it, the first byte included), for a focused run or a replay.
//
// Targets by area: this file (core parsers, request heads, SRT handshakes, STUN, SDP, HLS
// playlists), RTMPTargets.swift, HostTargets.swift (system and commands APIs), WebRTCTargets.swift,
// HTTPTargets.swift, RegistryTargets.swift, SRTTargets.swift (and the UDP fast path rules).

import Foundation

@testable import HTTPFLV
@testable import ProxyCore
@testable import ProxyHTTP
@testable import SRT
@testable import WebRTC

/// Every target, by the number of its first byte.
nonisolated(unsafe) let targets: [(name: String, run: (FuzzInput) -> Void)] = [
    ("listen-endpoint", CoreTargets.listenEndpoint),  // 0
    ("rtmp-stream-request", CoreTargets.rtmpRequest),
    ("http-stream-request", CoreTargets.httpRequest),
    ("srt-stream-id", CoreTargets.srtStreamID),
    ("config-duration", CoreTargets.duration),
    ("query-string", CoreTargets.query),  // 5
    ("request-head", { checkRequestHead($0.bytes) }),
    ("srt-handshake", { checkSRTHandshake($0.bytes) }),
    ("hls-playlist", { checkPlaylist($0.text) }),
    ("stun", { checkSTUN($0.bytes) }),
    ("sdp", { checkSDP($0.text) }),  // 10
    ("rtmp-chunk-decoder", RTMPTargets.chunkDecoder),
    ("rtmp-chunk-scanner", RTMPTargets.chunkScanner),
    ("amf0-command", RTMPTargets.amf0),
    ("rtmp-backend-translator", RTMPTargets.backendTranslator),
    ("rtmp-client-session", RTMPTargets.clientSession),  // 15
    ("register-request", HostTargets.register),
    ("close-request-body", HostTargets.closeBody),
    ("ip-network", HostTargets.ipNetwork),
    ("api-access", HostTargets.apiAccess),
    ("webrtc-host-header", WebRTCTargets.hostHeader),  // 20
    ("webrtc-stream-url", WebRTCTargets.streamURL),
    ("webrtc-location", WebRTCTargets.location),
    ("webrtc-signalling", WebRTCTargets.signallingRequest),
    ("webrtc-relay", WebRTCTargets.relay),
    ("cors", HTTPTargets.cors),  // 25
    ("http-request-reader", HTTPTargets.requestReader),
    ("http-flv-head", HTTPTargets.flvHead),
    ("hls-session", HTTPTargets.hlsSession),
    ("static-files", HTTPTargets.staticFiles),
    ("redis-route", RegistryTargets.redisRoute),  // 30
    ("registry-json", RegistryTargets.storedJSON),
    ("udp-fast-path-rules", SRTTargets.fastPathRules),
    ("srt-stream-id-extension", SRTTargets.streamIDExtension),
    ("srt-server", SRTTargets.server),
    ("redis-reply", RegistryTargets.redisReplies),  // 35
    ("drain-request-body", HostTargets.drainBody),
    ("flv-tag-scanner", FanoutTargets.flvTagScanner),
]

/// The one target `FUZZ_TARGET` names, if any.
let onlyTarget: Int? = {
    guard let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] else { return nil }
    guard let i = targets.firstIndex(where: { $0.name == name }) else {
        fatalError("FUZZ_TARGET=\(name): no such target (\(targets.map(\.name).joined(separator: ", ")))")
    }
    return i
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let only = onlyTarget {
        targets[only].run(FuzzInput(bytes: bytes))
    } else if let selector = bytes.first {
        targets[Int(selector) % targets.count].run(FuzzInput(bytes: Array(bytes.dropFirst())))
    }
    return 0
}

/// ProxyCore's parsers of what a client sends before a stream key is known.
enum CoreTargets {
    static func listenEndpoint(_ input: FuzzInput) {
        guard let endpoint = try? ListenEndpoint(parsing: input.text) else { return }
        check((0...65535).contains(endpoint.port), "port out of range: \(endpoint)")
        check((try? ListenEndpoint(parsing: endpoint.description)) == endpoint, "description does not parse back: \(endpoint)")
    }

    static func rtmpRequest(_ input: FuzzInput) {
        let f = input.fields(3)
        if let request = try? StreamRequest.rtmp(tcUrl: f[0], stream: f[1]) { checkKey(request.key) }
    }

    static func httpRequest(_ input: FuzzInput) {
        let f = input.fields(3)
        if let request = try? StreamRequest.http(host: f[0], path: f[1], query: f[2]) { checkKey(request.key) }
    }

    static func srtStreamID(_ input: FuzzInput) {
        let text = input.text
        guard let sid = try? SRTStreamID(parsing: text) else { return }
        checkKey(sid.request.key)
        check(text.utf8.count <= SRTStreamID.maxLength, "accepted a streamid over the limit")
    }

    static func duration(_ input: FuzzInput) {
        let text = input.text
        if let duration = ConfigDuration(parsing: text) { check(duration.duration >= .zero, "negative duration from '\(text)'") }
    }

    static func query(_ input: FuzzInput) {
        let text = input.text
        let query = QueryString(text)
        _ = query.value("vhost")
        _ = query.vhost
        _ = text.percentDecoded()
    }
}

/// Small limits, so the 1 KiB inputs reach every limit.
private let headLimits: ClientRequestHead.Limits = {
    var limits = ClientRequestHead.Limits()
    limits.maxRequestLine = 64
    limits.maxHead = 256
    limits.maxHeaderCount = 8
    return limits
}()

func checkRequestHead(_ input: [UInt8]) {
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

func checkPlaylist(_ text: String) {
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
func checkSRTHandshake(_ input: [UInt8]) {
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

/// The WebRTC module's STUN USERNAME reader: never reads past the datagram; a username it
/// returns is within the datagram and its ufrag is the part before the first ':'.
func checkSTUN(_ input: [UInt8]) {
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
func checkSDP(_ text: String) {
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
