# Multi-stage build of every server binary (social-im, user-server, activity-server,
# im-server, gateway). No system protoc is needed (the .proto files are compiled by
# protox); librdkafka is built from source by rdkafka-sys, which needs a C toolchain,
# make, perl and zlib headers: all in the rust image.
#
#   docker build -t social-im .
#   docker run -p 8080:8080 -e SOCIAL_IM_HTTP__LISTEN=0.0.0.0:8080 social-im   # all-in-one

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p bins --bins \
 && mkdir -p /out \
 && cp target/release/social-im target/release/user-server target/release/activity-server \
       target/release/im-server target/release/gateway /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home social-im
COPY --from=build /out/ /usr/local/bin/
USER social-im
WORKDIR /data
# HTTP (API, /ws, /healthz, /metrics) and gRPC.
EXPOSE 8080 9090
# The all-in-one server by default (SQLite in /data, in-memory broker); the compose file
# runs the separate servers with `command:`.
ENV SOCIAL_IM_HTTP__LISTEN=0.0.0.0:8080 SOCIAL_IM_GRPC__LISTEN=0.0.0.0:9090
CMD ["social-im"]
