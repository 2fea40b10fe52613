import NIOSSL
import ProxyCore

/// `tls:` of an API (`system_api.tls`, `commands_api.tls`): a PEM certificate chain and its
/// private key. Both files are read and checked while the configuration loads, so a missing or
/// bad file stops the start with the file and the key named.
struct APITLSConfig: Decodable, Sendable {
    /// PEM file with the server certificate first, then any intermediates.
    var cert: String
    /// PEM file with the certificate's private key (unencrypted).
    var key: String
    var tlsConfiguration: TLSConfiguration

    enum CodingKeys: String, CodingKey, CaseIterable {
        case cert, key
    }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cert = try c.decode(String.self, forKey: .cert)
        key = try c.decode(String.self, forKey: .key)
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(cert)
        } catch {
            throw c.invalid(.cert, "cannot read a PEM certificate from '\(cert)': \(error)")
        }
        guard !chain.isEmpty else { throw c.invalid(.cert, "no certificate in '\(cert)'") }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw c.invalid(.key, "cannot read a PEM private key from '\(key)': \(error)")
        }
        tlsConfiguration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        do {
            _ = try NIOSSLContext(configuration: tlsConfiguration)
        } catch {
            throw c.invalid(.key, "the key in '\(key)' does not fit the certificate in '\(cert)': \(error)")
        }
    }
}
