/// SRS proxy's environment variables and the proxy.yaml keys they override. An empty value is
/// treated as unset. Listed in docs/configuration.md.
enum EnvironmentOverrides {
    static let table: [(variable: String, path: [String])] = [
        ("PROXY_RTMP_SERVER", ["modules", "rtmp", "listen"]),
        ("PROXY_HTTP_SERVER", ["modules", "http-flv", "listen"]),
        ("PROXY_STATIC_FILES", ["modules", "http-flv", "static_files"]),
        ("PROXY_HTTP_API", ["modules", "webrtc", "api_listen"]),
        ("PROXY_WEBRTC_SERVER", ["modules", "webrtc", "udp_listen"]),
        ("PROXY_SRT_SERVER", ["modules", "srt", "listen"]),
        ("PROXY_SYSTEM_API", ["system_api", "listen"]),
        ("PROXY_BALANCER", ["balancer"]),
        ("PROXY_EVENT_LOOPS", ["event_loops"]),
        ("PROXY_LOAD_BALANCER_TYPE", ["registry", "type"]),
        ("PROXY_REDIS_HOST", ["registry", "redis", "host"]),
        ("PROXY_REDIS_PORT", ["registry", "redis", "port"]),
        ("PROXY_REDIS_PASSWORD", ["registry", "redis", "password"]),
        ("PROXY_REDIS_DB", ["registry", "redis", "db"]),
        ("PROXY_DEFAULT_BACKEND_ENABLED", ["default_backend", "enabled"]),
        ("PROXY_DEFAULT_BACKEND_IP", ["default_backend", "ip"]),
        ("PROXY_DEFAULT_BACKEND_RTMP", ["default_backend", "rtmp"]),
        ("PROXY_DEFAULT_BACKEND_HTTP", ["default_backend", "http"]),
        ("PROXY_DEFAULT_BACKEND_API", ["default_backend", "api"]),
        ("PROXY_DEFAULT_BACKEND_RTC", ["default_backend", "rtc"]),
        ("PROXY_DEFAULT_BACKEND_SRT", ["default_backend", "srt"]),
        ("PROXY_GRACE_QUIT_TIMEOUT", ["quit", "grace"]),
        ("PROXY_FORCE_QUIT_TIMEOUT", ["quit", "force"]),
    ]
}
