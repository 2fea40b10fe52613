import Hummingbird

/// `POST /api/v1/reload`: re-reads proxy.yaml as SIGHUP does (ConfigReloader), authenticated
/// like registration (the register token, or loopback and `system_api.allow` without one).
/// 200 with what was applied and what needs a restart; 422 with the file:line:key error when
/// the file does not load (the running configuration stays).
extension SystemAPI {
    static let reloadPath = "/api/v1/reload"

    func reload(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        _ = try current.access.register(request, from: context.remoteAddress)
        guard let reloader else { throw APIError(.serviceUnavailable, "this proxy was started without a configuration file to reload") }
        switch reloader.reload(trigger: "POST \(Self.reloadPath) from \(context.remoteAddress?.ipAddress ?? "?")") {
        case .reloaded(let plan):
            return JSONResponse.ok(["applied": plan.applied, "restart_needed": plan.restart])
        case .failed(let why):
            return JSONResponse.error(.unprocessableContent, why)
        }
    }
}
