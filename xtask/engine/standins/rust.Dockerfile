# Stand-in for the official rust:1.95-slim-bookworm image, built from the debian:bookworm-slim
# stand-in and this machine's own rustup toolchain. Same layout as the official image:
# RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo, tools on PATH.
FROM debian:bookworm-slim
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUST_VERSION=1.95.0
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY toolchain /usr/local/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu
RUN mkdir -p /usr/local/cargo/bin \
 && for b in /usr/local/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/bin/*; do ln -s "$b" /usr/local/cargo/bin/; done \
 && chmod -R a+w /usr/local/cargo \
 && cargo --version && rustc --version
