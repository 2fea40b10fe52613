extension RTMPClientSession {
    /// Whether connect's `app` names the application its `tcUrl` does, as nginx-rtmp reads the one
    /// (up to a `?`, without surrounding slashes) and SRS the other (the path after the host). A
    /// tcUrl that is not a URL names nothing to compare: publish/play refuses it.
    static func sameApplication(tcUrl: String, app: String) -> Bool {
        func trimmed(_ s: Substring) -> Substring {
            var s = s.prefix { $0 != "?" }
            while s.first == "/" { s = s.dropFirst() }
            while s.last == "/" { s = s.dropLast() }
            return s
        }
        guard let scheme = tcUrl.range(of: "://") else { return true }
        let rest = tcUrl[scheme.upperBound...].prefix { $0 != "?" }
        let path = rest.firstIndex(of: "/").map { rest[$0...] } ?? ""
        return trimmed(path) == trimmed(Substring(app))
    }
}
