# web image. Build from the repository root:
#   docker buildx build -f xtask/docker/web.Dockerfile -t web .
# The context is filtered by web.Dockerfile.dockerignore beside this file.

# The recipe: every workspace manifest and Cargo.lock, each member with placeholder sources,
# derived from the context rather than listed here (the cargo-chef idea without the crate),
# so a new member needs no edit of this file. This stage sees the sources and re-runs on
# every change, but it is cheap, and what it writes depends only on the manifests.
FROM debian:bookworm-slim AS recipe
WORKDIR /src
COPY . .
# Each Cargo.toml below the root is a member (the ignore file sends `*/Cargo.toml`); cargo
# loads the whole workspace, so each gets a src/main.rs, and src/lib.rs too when it declares
# a [lib] or has one.
RUN set -eu; \
    mkdir /recipe; \
    cp Cargo.toml Cargo.lock /recipe/; \
    find . -mindepth 2 -name Cargo.toml -not -path './target/*' > /tmp/manifests; \
    while read -r manifest; do \
      member=$(dirname "$manifest"); \
      mkdir -p "/recipe/$member/src"; \
      cp "$manifest" "/recipe/$member/"; \
      echo 'fn main() {}' > "/recipe/$member/src/main.rs"; \
      if grep -q '^\[lib\]' "$manifest" || [ -f "$member/src/lib.rs" ]; then \
        : > "/recipe/$member/src/lib.rs"; \
      fi; \
    done < /tmp/manifests

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer: compile them against the recipe's placeholders.
# Its cache key is the manifests' content, so a change under web/ reuses this layer.
COPY --from=recipe /recipe .
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
