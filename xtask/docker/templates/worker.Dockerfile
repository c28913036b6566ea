# {{name}} image, written by `cargo xtask new-service {{name}}` from
# xtask/docker/templates/worker.Dockerfile. Build from the repository root:
#   docker buildx build -f xtask/docker/{{name}}.Dockerfile -t {{name}} .
# The context is filtered by {{name}}.Dockerfile.dockerignore beside this file.

# ---- The shared dependency layer: every Rust service's Dockerfile starts with exactly these
# lines (a tidy test keeps them identical), so BuildKit computes them once for all services.

# The recipe: every workspace manifest and Cargo.lock, each member with placeholder sources,
# derived from the context rather than listed here (the cargo-chef idea without the crate),
# so a new member needs no edit of this file. This stage sees the sources and re-runs on
# every change, but it is cheap, and what it writes depends only on the manifests: each
# member gets both a src/main.rs and a src/lib.rs placeholder, whatever its sources, so the
# recipe is the same whichever service's context it was made from.
FROM debian:bookworm-slim AS recipe
WORKDIR /src
COPY . .
RUN set -eu; \
    mkdir /recipe; \
    cp Cargo.toml Cargo.lock /recipe/; \
    find . -mindepth 2 -name Cargo.toml -not -path './target/*' > /tmp/manifests; \
    while read -r manifest; do \
      member=$(dirname "$manifest"); \
      mkdir -p "/recipe/$member/src"; \
      cp "$manifest" "/recipe/$member/"; \
      echo 'fn main() {}' > "/recipe/$member/src/main.rs"; \
      : > "/recipe/$member/src/lib.rs"; \
    done < /tmp/manifests

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY --from=recipe /recipe .
# The registry cache mount is shared by every build on the engine, and cargo's own lock lives
# outside it: two fetches at once fail with "failed to unpack package ... File exists". So
# crates are fetched under BuildKit's lock first; the builds then download nothing.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    cargo fetch --locked
# The dependencies of all the workspace's crates but the toolkit, compiled once and
# feature-unified as a workspace build unifies them: the same layer (same cache key, the
# manifests' content) for every service, so api and web share one compile of tokio, axum,
# hyper and the rest, and a new service adds no compile of crates already built. The
# service's own build below selects the same packages, so cargo reuses all of it and
# compiles only the service's crate. target/ is a layer, not a cache mount: the next step
# starts from it, and it does not depend on a mount surviving cache GC.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    cargo build --release --locked --workspace --exclude xtask
# ---- End of the shared dependency layer.

COPY {{name}}/src {{name}}/src
# COPY keeps the files' mtimes, which can be older than the placeholder's build: touch so
# cargo sees the real sources as changed. The same package selection as the layer above.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    touch {{name}}/src/main.rs \
 && cargo build --release --locked --workspace --exclude xtask \
 && cp target/release/{{name}} /usr/local/bin/{{name}}
# Where the builder attaches an SBOM, this stage is scanned too: its Cargo.lock names the
# crates the binary is built from.
ARG BUILDKIT_SBOM_SCAN_STAGE=true

# Distroless: libc, libgcc, CA certificates, tzdata and a nonroot user (65532); no shell, no
# package manager. The service needs nothing else at run time.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/{{name}} /usr/local/bin/{{name}}
USER 65532:65532
# A worker serves no port: it touches this file on every beat and `{{name}} healthcheck`
# checks its age. /tmp, because it stays writable under --read-only with --tmpfs /tmp.
ENV HEARTBEAT_FILE=/tmp/{{name}}.heartbeat
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/{{name}}", "healthcheck"]
# Exec form: the worker is PID 1 and gets docker stop's SIGTERM itself (it handles it).
CMD ["/usr/local/bin/{{name}}"]
# Last, so a new revision never invalidates a cached build step.
ARG REVISION=unknown
ENV APP_REVISION=$REVISION
