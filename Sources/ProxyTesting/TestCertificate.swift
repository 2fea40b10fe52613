import Foundation

/// A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI in a
/// directory of its own (PEM files, valid for one day).
public final class TestCertificate: Sendable {
    public let directory: URL
    public var certPath: String { directory.appendingPathComponent("cert.pem").path }
    public var keyPath: String { directory.appendingPathComponent("key.pem").path }

    public static func make() async throws -> TestCertificate {
        let cert = try TestCertificate()
        let openssl = try PeerProcess("openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", cert.keyPath, "-out", cert.certPath,
        ])
        let status = try await openssl.wait(timeout: .seconds(30))
        guard status == 0 else { throw TestFailure("openssl exited with \(status):\n\(openssl.output)") }
        return cert
    }

    private init() throws {
        directory = try PackagePaths.temporaryDirectory("tls")
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}

/// curl as an HTTPS client that trusts one CA file (Foundation's client cannot be told to).
public enum Curl {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
        /// The body as a JSON object (empty when it is not one).
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any] ?? [:]
        }
    }

    /// `curl -sS [--cacert ca] [extra...] url`; the body (and curl's own error on failure).
    public static func run(_ url: String, cacert: String? = nil, _ extra: [String] = []) async throws -> Result {
        let curl = try PeerProcess("curl", ["-sS", "--max-time", "10"] + (cacert.map { ["--cacert", $0] } ?? []) + extra + [url])
        let status = try await curl.wait(timeout: .seconds(20))
        return Result(status: status, output: curl.output)
    }
}
