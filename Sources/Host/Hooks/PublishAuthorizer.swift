import Foundation
import Logging
import ProxyCore

/// `hooks.publish_auth`: asks the verifier about one publish, SRS's way. A publish is allowed
/// only on HTTP 200 with the body `0` or a JSON object whose `code` is 0; any other answer
/// denies. No answer at all (unreachable, timeout, HTTP 5xx, an oversized body) is decided by
/// `on_error`.
struct PublishAuthorizer: Sendable {
    var config: PublishAuthConfig
    var url: URL
    var client: HookHTTPClient
    var server: String
    var service: String
    var logger: Logger

    /// What the verifier's answer means.
    enum Verdict: Equatable {
        case allow
        case deny(String)
        /// The verifier did not answer usefully: `on_error` decides.
        case error(String)
    }

    func decide(_ event: StreamEvent) async -> HookDecision {
        let body = HookRequestBody(event, server: server, service: service, eventID: nil).json()
        let verdict: Verdict
        do {
            let response = try await client.post(url, json: body, headers: config.headers, bearerToken: config.bearerToken, timeout: config.timeout.duration)
            verdict = Self.verdict(status: response.status, body: response.body)
        } catch {
            verdict = .error("\(error)")
        }
        let metadata: Logger.Metadata = ["stream": "\(event.request.key)", "client": "\(event.client)", "protocol": "\(event.module)"]
        switch verdict {
        case .allow:
            logger.debug("publish allowed by hook", metadata: metadata)
            return .allow
        case .deny(let why):
            logger.notice("publish denied by hook", metadata: metadata.merging(["reason": "\(why)"]) { $1 })
            return .deny(why)
        case .error(let why) where config.onError == .allow:
            logger.warning("publish hook failed; allowed by on_error: allow", metadata: metadata.merging(["reason": "\(why)"]) { $1 })
            return .allow
        case .error(let why):
            logger.warning("publish hook failed; denied (on_error: deny)", metadata: metadata.merging(["reason": "\(why)"]) { $1 })
            return .deny("publish hook failed: \(why)")
        }
    }

    /// SRS's rule: HTTP 200 and `0` or `{"code":0,...}` allows.
    static func verdict(status: Int, body: String) -> Verdict {
        if status >= 500 { return .error("the hook answered HTTP \(status)") }
        guard status == 200 else { return .deny("the hook answered HTTP \(status)") }
        let text = body.trimmingCharacters(in: .whitespacesAndNewlines)
        if text == "0" { return .allow }
        struct Answer: Decodable { var code: Int }
        if text.hasPrefix("{") {
            guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(text.utf8)) else {
                return .deny("the hook answered '\(text.prefix(80))' without a numeric code")
            }
            return answer.code == 0 ? .allow : .deny("the hook answered code \(answer.code)")
        }
        return .deny("the hook answered '\(text.prefix(80))', not 0 or {\"code\":0}")
    }
}
