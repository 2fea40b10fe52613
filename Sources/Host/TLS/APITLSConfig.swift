import NIOSSL
import ProxyCore

/// `tls:` of an API (`system_api.tls`, `commands_api.tls`): a PEM certificate chain and its
/// private key. Both files are read and checked while the configuration loads, so a missing or
/// bad file stops the start with the file and the key named. With `reload_check` the files are
/// looked at that often and a changed pair serves new connections (TLSReloadService).
struct APITLSConfig: Decodable, Sendable {
    /// PEM file with the server certificate first, then any intermediates.
    var cert: String
    /// PEM file with the certificate's private key (unencrypted).
    var key: String
    /// How often the files are checked for a change; nil: read once.
    var reloadCheck: ConfigDuration?
    let certificate: ReloadableCertificate
    var tlsConfiguration: TLSConfiguration { certificate.serverConfiguration() }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case cert, key
        case reloadCheck = "reload_check"
    }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cert = try c.decode(String.self, forKey: .cert)
        key = try c.decode(String.self, forKey: .key)
        if c.contains(.reloadCheck) { reloadCheck = try c.decodePositive(.reloadCheck, default: .seconds(60)) }
        do {
            certificate = try ReloadableCertificate(cert: cert, key: key)
        } catch .cert(let why) {
            throw c.invalid(.cert, why)
        } catch {
            throw c.invalid(.key, "\(error)")
        }
    }
}
