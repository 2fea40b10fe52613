extension StreamRequest {
    /// File extensions that name a live stream over HTTP; they are not part of the key.
    public static let liveExtensions: Set<String> = ["flv", "ts", "m3u8"]

    /// The stream an HTTP request names: `Host` + `/app/stream.flv` (the extension and port
    /// dropped), or `?app=&stream=` as SRS's players send it; `vhost=` in the query overrides.
    public static func http(host: String?, path: String, query: String) throws(StreamKeyError) -> StreamRequest {
        guard path.utf8.count <= 4096, query.utf8.count <= 8192 else { throw .tooLong }
        let q = QueryString(query)
        let vhost = q.vhost ?? StreamKey.vhost(fromHost: host)
        if let app = q.value("app"), let stream = q.value("stream"), !app.isEmpty, !stream.isEmpty {
            return StreamRequest(key: try StreamKey(vhost: vhost, app: app, stream: stream.droppingLiveExtension()), query: q.raw)
        }
        let decoded = path.percentDecoded(plusAsSpace: false).trimmingSlashes()
        guard let slash = decoded.lastIndex(of: "/") else {
            throw decoded.isEmpty ? .missingStream : .missingApp
        }
        let app = String(decoded[decoded.startIndex..<slash])
        let stream = String(decoded[decoded.index(after: slash)...]).droppingLiveExtension()
        return StreamRequest(key: try StreamKey(vhost: vhost, app: app, stream: stream), query: q.raw)
    }
}

extension String {
    func droppingLiveExtension() -> String {
        guard let dot = lastIndex(of: "."), StreamRequest.liveExtensions.contains(String(self[index(after: dot)...]).lowercased()) else {
            return self
        }
        return String(self[startIndex..<dot])
    }
}
