// libFuzzer entry point for the ProxyCore parsers: every input a client or an origin controls
// before the proxy knows a stream key. Built by fuzz/run with -sanitize=fuzzer,address.
//
// The first byte picks the parser; the rest is its input (NUL separates fields where a parser
// takes two or three). Besides "does not crash", each successful parse is checked for the
// invariants the router relies on; a violation stops the fuzzer with the input saved.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
    let fields = text.split(separator: "\0", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
    func field(_ i: Int) -> String { i < fields.count ? fields[i] : "" }

    switch bytes[0] % 6 {
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
    default:
        let query = QueryString(text)
        _ = query.value("vhost")
        _ = query.vhost
        _ = text.percentDecoded()
    }
    return 0
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
