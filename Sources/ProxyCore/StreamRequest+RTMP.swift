extension StreamRequest {
    /// The stream an RTMP client names with connect's `tcUrl` and the publish/play stream name.
    ///
    /// `rtmp://host[:port]/app[/more]?vhost=v` + `stream?token=t` names `v-or-host/app[/more]/stream`;
    /// the query of both parts is kept (tcUrl's first) for the backend.
    public static func rtmp(tcUrl: String, stream streamName: String) throws(StreamKeyError) -> StreamRequest {
        guard tcUrl.utf8.count <= 4096, streamName.utf8.count <= 4096 else { throw .tooLong }
        var rest = Substring(tcUrl)
        guard let schemeEnd = rest.range(of: "://") else { throw .invalidURL(tcUrl) }
        rest = rest[schemeEnd.upperBound...]

        let (urlPart, urlQuery) = rest.splitQuery()
        let hostEnd = urlPart.firstIndex(of: "/") ?? urlPart.endIndex
        let host = String(urlPart[urlPart.startIndex..<hostEnd])
        let app = String(urlPart[hostEnd...]).trimmingSlashes().percentDecoded(plusAsSpace: false)

        let (name, streamQuery) = Substring(streamName).splitQuery()
        let query = QueryString.join(String(urlQuery), String(streamQuery))
        let vhost = QueryString(query).vhost ?? StreamKey.vhost(fromHost: host)
        let key = try StreamKey(vhost: vhost, app: app, stream: String(name).percentDecoded(plusAsSpace: false))
        return StreamRequest(key: key, query: query)
    }
}

extension Substring {
    /// Splits `path?query` into its two parts; the query is empty when there is none.
    func splitQuery() -> (Substring, Substring) {
        guard let q = firstIndex(of: "?") else { return (self, "") }
        return (self[startIndex..<q], self[index(after: q)...])
    }
}
