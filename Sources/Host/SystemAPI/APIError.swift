import Hummingbird

/// An API failure: the HTTP status and a message naming the field or cause. Rendered as
/// `{"code": <status>, "error": "<message>"}` by APIErrorMiddleware.
struct APIError: Error, CustomStringConvertible {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { "\(status.code) \(message)" }
}
