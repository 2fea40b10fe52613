import Hummingbird
import Logging

/// The APIs' request log (`log.requests`): one `info` line per answered request, after the
/// answer, with its method, path (the query is left out: it may carry tokens), status, duration
/// in milliseconds and the client's address. Outermost, so it sees the status of refusals and
/// errors too. Hummingbird's LogRequestsMiddleware logs when a request arrives, without the
/// status or the duration, hence this one.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    /// `log.requests`, read per request (a reload switches it).
    var enabled: Live<Bool>
    var logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard enabled.value else { return try await next(request, context) }
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context, status: response.status.code, started)
            return response
        } catch {
            log(request, context, status: (error as? any HTTPResponseError)?.status.code ?? 500, started)
            throw error
        }
    }

    private func log(_ request: Request, _ context: Context, status: Int, _ started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        var metadata: Logger.Metadata = [
            "method": "\(request.method.rawValue)", "path": "\(request.uri.path)", "status": "\(status)",
            "ms": "\((ms * 10).rounded() / 10)",
        ]
        if let address = (context as? any RemoteAddressRequestContext)?.remoteAddress?.ipAddress { metadata["client"] = "\(address)" }
        logger.info("request", metadata: metadata)
    }
}
