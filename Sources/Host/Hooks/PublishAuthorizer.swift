import Foundation
import Logging
import ProxyCore

/// `hooks.publish_auth`: asks the verifier about one publish.
///
/// SRS's format: a JSON body; allowed only on HTTP 200 with the body `0` or a JSON object whose
/// `code` is 0; any other answer denies. The coordinator's format: an empty POST with the
/// channel (the app), the key (the stream name) and the publisher's address in headers; status
/// 200 allows (its `x-record`, `x-previews` and `x-resolutions` become the session's
/// attributes), any other status denies. In both, no answer at all (unreachable, timeout, HTTP
/// 5xx in SRS's format, an oversized body) is decided by `on_error`.
struct PublishAuthorizer: Sendable {
    var config: PublishAuthConfig
    var url: URL
    var client: HookHTTPClient
    var server: String
    var service: String
    var logger: Logger

    /// What the verifier's answer means.
    enum Verdict: Equatable {
        case allow([String: String])
        case deny(String)
        /// The verifier did not answer usefully: `on_error` decides.
        case error(String)
    }

    /// The answer headers a coordinator-format verifier may set, kept as session attributes.
    static let attributeHeaders = ["x-record", "x-previews", "x-resolutions"]

    func decide(_ event: StreamEvent) async -> HookDecision {
        let verdict: Verdict
        do {
            switch config.format {
            case .srs:
                let body = HookRequestBody(event, server: server, service: service, eventID: nil).json()
                let response = try await client.post(
                    url, json: body, headers: config.headers, authorization: config.auth.headerValue, timeout: config.timeout.duration)
                verdict = Self.verdict(status: response.status, body: response.body)
            case .coordinator:
                var headers = config.headers
                headers["x-streaming-channel"] = event.request.key.app
                headers["x-streaming-key"] = event.request.key.stream
                headers["x-user-ip"] = HookRequestBody.host(of: event.client)
                let response = try await client.post(
                    url, json: nil, headers: headers, authorization: config.auth.headerValue, timeout: config.timeout.duration)
                verdict = Self.coordinatorVerdict(status: response.status, headers: Self.attributeHeaders.compactMap { name in
                    response.headers.first(name: name).map { (name, $0) }
                })
            }
        } catch {
            verdict = .error("\(error)")
        }
        let metadata: Logger.Metadata = ["stream": "\(event.request.key)", "client": "\(event.client)", "protocol": "\(event.module)"]
        let what = event.kind == .playStart ? "play" : "publish"
        switch verdict {
        case .allow(let attributes):
            logger.debug("\(what) allowed by hook", metadata: metadata)
            return attributes.isEmpty ? .allow : .allowWith(attributes: attributes)
        case .deny(let why):
            logger.notice("\(what) denied by hook", metadata: metadata.merging(["reason": "\(why)"]) { $1 })
            return .deny(why)
        case .error(let why) where config.onError == .allow:
            logger.warning("\(what) hook failed; allowed by on_error: allow", metadata: metadata.merging(["reason": "\(why)"]) { $1 })
            return .allow
        case .error(let why):
            logger.warning("\(what) hook failed; denied (on_error: deny)", metadata: metadata.merging(["reason": "\(why)"]) { $1 })
            return .deny("\(what) hook failed: \(why)")
        }
    }

    /// SRS's rule: HTTP 200 and `0` or `{"code":0,...}` allows.
    static func verdict(status: Int, body: String) -> Verdict {
        if status >= 500 { return .error("the hook answered HTTP \(status)") }
        guard status == 200 else { return .deny("the hook answered HTTP \(status)") }
        let text = body.trimmingCharacters(in: .whitespacesAndNewlines)
        if text == "0" { return .allow([:]) }
        struct Answer: Decodable { var code: Int }
        if text.hasPrefix("{") {
            guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(text.utf8)) else {
                return .deny("the hook answered '\(text.prefix(80))' without a numeric code")
            }
            return answer.code == 0 ? .allow([:]) : .deny("the hook answered code \(answer.code)")
        }
        return .deny("the hook answered '\(text.prefix(80))', not 0 or {\"code\":0}")
    }

    /// The coordinator's rule: status 200 allows, every other status denies (a 5xx too: the
    /// coordinator closes the publish on any other status). Attribute values are kept up to
    /// 256 bytes each.
    static func coordinatorVerdict(status: Int, headers: [(String, String)]) -> Verdict {
        guard status == 200 else { return .deny("the key verification answered HTTP \(status)") }
        var attributes: [String: String] = [:]
        for (name, value) in headers where attributes[name] == nil {
            attributes[name] = String(value.utf8.prefix(256)) ?? ""
        }
        return .allow(attributes)
    }
}
