/// SRS proxy's and the streaming coordinator's environment variables and the proxy.yaml keys they
/// override. An empty value is treated as unset. A path element that is a number is an item of a
/// list (the list becomes that one item). Listed in docs/configuration.md.
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
        ("PROXY_REDIS_KEY_PREFIX", ["registry", "redis", "key_prefix"]),
        ("PROXY_DEFAULT_BACKEND_ENABLED", ["default_backend", "enabled"]),
        ("PROXY_DEFAULT_BACKEND_IP", ["default_backend", "ip"]),
        ("PROXY_DEFAULT_BACKEND_RTMP", ["default_backend", "rtmp"]),
        ("PROXY_DEFAULT_BACKEND_HTTP", ["default_backend", "http"]),
        ("PROXY_DEFAULT_BACKEND_API", ["default_backend", "api"]),
        ("PROXY_DEFAULT_BACKEND_RTC", ["default_backend", "rtc"]),
        ("PROXY_DEFAULT_BACKEND_SRT", ["default_backend", "srt"]),
        ("PROXY_GRACE_QUIT_TIMEOUT", ["quit", "grace"]),
        ("PROXY_FORCE_QUIT_TIMEOUT", ["quit", "force"]),
        // The streaming coordinator's variables.
        ("KEY_VERIFICATION_URL", ["hooks", "publish_auth", "url"]),
        ("KEY_VERIFICATION_AUTH", ["hooks", "publish_auth", "auth", "type"]),
        ("KEY_VERIFICATION_AUTH_USER", ["hooks", "publish_auth", "auth", "user"]),
        ("KEY_VERIFICATION_PASSWORD", ["hooks", "publish_auth", "auth", "password"]),
        ("KEY_VERIFICATION_AUTH_TOKEN", ["hooks", "publish_auth", "auth", "token"]),
        ("KEY_VERIFICATION_AUTH_CUSTOM", ["hooks", "publish_auth", "auth", "value"]),
        ("EVENT_CALLBACK_URL", ["hooks", "events", "urls", "0"]),
        ("EVENT_CALLBACK_AUTH", ["hooks", "events", "auth", "type"]),
        ("EVENT_CALLBACK_AUTH_USER", ["hooks", "events", "auth", "user"]),
        ("EVENT_CALLBACK_PASSWORD", ["hooks", "events", "auth", "password"]),
        ("EVENT_CALLBACK_AUTH_TOKEN", ["hooks", "events", "auth", "token"]),
        ("EVENT_CALLBACK_AUTH_CUSTOM", ["hooks", "events", "auth", "value"]),
        ("ID_MAX_LENGTH", ["hooks", "id_max_length"]),
    ]

    /// Settings a variable implies besides its own key: the coordinator's URLs switch their hook
    /// to the coordinator's format, as they configure the coordinator.
    static let implied: [(variable: String, path: [String], value: String)] = [
        ("KEY_VERIFICATION_URL", ["hooks", "publish_auth", "format"], "coordinator"),
        ("EVENT_CALLBACK_URL", ["hooks", "events", "format"], "coordinator"),
    ]
}
