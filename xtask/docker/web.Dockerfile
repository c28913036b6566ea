# web image. Build from the repository root:
#   docker buildx build -f xtask/docker/web.Dockerfile -t web .
# The context is filtered by web.Dockerfile.dockerignore beside this file.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer: compile them against placeholder sources so that
# a change under web/ reuses this layer. Every workspace member must be present for
# cargo to load the workspace, so each gets a placeholder main.rs.
COPY Cargo.toml Cargo.lock ./
COPY api/Cargo.toml api/
COPY web/Cargo.toml web/
COPY xtask/Cargo.toml xtask/
RUN for member in api web xtask; do \
      mkdir -p "$member/src" && echo 'fn main() {}' > "$member/src/main.rs"; \
    done
# target/ is deliberately not a cache mount: the compiled dependencies live in this layer
# and the build below starts from them, compiling only the web crate. A target/ mount
# measured no faster for a source change (the time is all in that one crate) and would
# only pay off when Cargo.lock changes, at the cost of an empty layer here and rebuilds
# that depend on the mount surviving cache GC.
# The registry cache mount is shared by every build on the engine (api and web build at the
# same time), and cargo's own lock lives outside it: two fetches at once fail with "failed to
# unpack package ... File exists". So crates are fetched under BuildKit's lock first; the
# builds then find them all in place and download nothing.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    cargo fetch --locked
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    cargo build --release --locked -p web

COPY web/src web/src
COPY web/static web/static
# COPY keeps the files' mtimes, which can be older than the placeholder's build: touch so
# cargo sees the real sources as changed.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    touch web/src/main.rs \
 && cargo build --release --locked -p web \
 && cp target/release/web /usr/local/bin/web

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --no-log-init \
      --shell /usr/sbin/nologin app
COPY --from=build /usr/local/bin/web /usr/local/bin/web
USER 10001:10001
ENV PORT=8080 \
    API_URL=http://api:8080
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/web", "healthcheck"]
CMD ["/usr/local/bin/web"]
# Last, so a new revision never invalidates a cached build step.
ARG REVISION=unknown
ENV APP_REVISION=$REVISION
