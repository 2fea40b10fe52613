/// The product's version, reported by `--version` and `GET /api/v1/versions`.
enum ProxyVersion {
    static let major = 0
    static let minor = 1
    static let revision = 0
    static var string: String { "\(major).\(minor).\(revision)" }
    static let name = "StreamProxy"
}
