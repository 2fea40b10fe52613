# StreamProxy container image: built with the Swift toolchain image, run on a slim Debian with
# hiredis (the Redis registry's C client). Checked against the binary by DeploymentKitTests:
# every EXPOSEd port is one the embedded proxy.yaml listens on, the CMD's flags pass
# --check-config. Build: docker build -t stream-proxy .
FROM swift:6.1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libhiredis-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product stream-proxy \
    && install -D "$(swift build -c release --show-bin-path)/stream-proxy" /out/stream-proxy

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libhiredis0.14 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin stream-proxy
COPY --from=build /out/stream-proxy /usr/local/bin/stream-proxy
COPY proxy.yaml /etc/stream-proxy/proxy.yaml
USER stream-proxy
# system API (registration, probes, metrics), RTMP, HTTP-FLV/HLS, SRT
EXPOSE 12025/tcp 11935/tcp 18080/tcp 20080/udp
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/stream-proxy"]
CMD ["--config", "/etc/stream-proxy/proxy.yaml"]
