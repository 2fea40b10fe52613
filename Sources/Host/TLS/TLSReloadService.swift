import Logging
import ServiceLifecycle

/// Looks at an API's certificate and key files every `reload_check` and swaps in a changed pair
/// for new connections (open ones keep theirs); a broken new pair keeps the old one, logged once
/// per change of the files.
struct TLSReloadService: Service {
    var api: String
    var certificate: ReloadableCertificate
    var interval: Duration
    var logger: Logger

    func run() async throws {
        logger.info("certificate reload on", metadata: [
            "api": "\(api)", "cert": "\(certificate.certPath)", "key": "\(certificate.keyPath)", "every": "\(interval)",
        ])
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                switch certificate.reloadIfChanged() {
                case .unchanged: break
                case .reloaded:
                    logger.notice("certificate reloaded; new connections use it", metadata: ["api": "\(api)", "cert": "\(certificate.certPath)"])
                case .kept(let why):
                    logger.error("certificate files changed but cannot be used; the previous pair stays", metadata: [
                        "api": "\(api)", "reason": "\(why)",
                    ])
                }
            }
        }
    }
}
