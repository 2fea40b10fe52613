import ProxyCore

extension SRTSession {
    /// The conclusion the backend gets: the caller's, unchanged, unless the publish hook renamed
    /// the stream (the coordinator format's `origin_name`): then its Stream ID names the stream
    /// the session was routed under, in SRS's access-control form, with the caller's query.
    var backendConclusion: SRTHandshake {
        let routed = stream.request
        guard routed.key != stream.requested.key else { return conclusion }
        var renamed = conclusion
        renamed.extensions.removeAll { $0.type == SRTHandshake.ExtensionType.streamID }
        renamed.extensions.append(SRTHandshake.streamIDExtension(Self.streamID(for: routed, role: role)))
        return renamed
    }

    /// `#!::r=app/stream[?query],m=publish|request[,h=vhost]`, as SRS reads it.
    static func streamID(for request: StreamRequest, role: SessionRole) -> String {
        let key = request.key
        var sid = "#!::r=\(key.app)/\(key.stream)"
        if !request.query.isEmpty { sid += "?\(request.query)" }
        sid += role == .publish ? ",m=publish" : ",m=request"
        if key.vhost != StreamKey.defaultVhost { sid += ",h=\(key.vhost)" }
        return sid
    }
}
