# End-to-end test runner: Playwright driving Debian's Chromium against the `web` service.
#
# Build from the repository root (the context is the whole repo, filtered by
# playwright-runner.Dockerfile.dockerignore):
#   docker buildx build --load -t playwright-runner -f xtask/docker/playwright-runner.Dockerfile .
# Run (reports land in the mounted /out):
#   docker run --rm -e BASE_URL=http://web:8080 -v "$PWD/out:/out" playwright-runner
#
# No HEALTHCHECK: this is a batch job that runs the suite once and exits with its status;
# there is no long-running process whose health anything could act on.

FROM node:20-bookworm-slim

# Debian's Chromium headless shell instead of Playwright's browser download (which needs a CDN we
# do not rely on). The headless shell is the browser Playwright itself runs for headless tests;
# unlike the full `chromium` package it brings no GTK and no Mesa/LLVM (about 350 MB less).
# The apt caches are BuildKit cache mounts, so neither the .debs nor the package lists end up in
# the image. Only /var/lib/apt/lists is mounted, not all of /var/lib/apt, so apt's
# extended_states stays in the image and consistent with what is installed.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
 && echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache \
 && apt-get update \
 && apt-get install -y --no-install-recommends chromium-headless-shell fonts-liberation \
 && /usr/lib/chromium/chromium-headless-shell --version

# Chromium's sandbox needs unprivileged user namespaces, which Docker's default seccomp profile
# (and missing CAP_SYS_ADMIN, which also defeats Debian's setuid chromium-sandbox) forbids even for
# a non-root user: launching fails with "No usable sandbox!". The container is the isolation
# boundary and the browser only visits our own services, so the sandbox is off by default here.
# It can be turned on where the runtime allows user namespaces, e.g.
#   docker run --security-opt seccomp=<profile allowing clone/unshare> -e CHROMIUM_SANDBOX=1 ...
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    CHROMIUM_PATH=/usr/bin/chromium-headless-shell \
    CHROMIUM_SANDBOX=0 \
    NPM_CONFIG_UPDATE_NOTIFIER=false

WORKDIR /app

# Dependencies first so they stay cached while specs change. npm ci runs as root at build time:
# the installed tree is root-owned and read-only for the `node` user (uid 1000) that runs the tests, and the
# npm cache mount is root's.
COPY playwright-runner/package.json playwright-runner/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --no-audit --no-fund --ignore-scripts \
 && npx --no-install playwright --version

COPY playwright-runner/playwright.config.js ./
COPY playwright-runner/tests ./tests

# Everything the run writes goes under /out (mount a host directory there to keep it).
RUN mkdir -p /out \
 && chown 1000:1000 /out
ENV PLAYWRIGHT_HTML_REPORT=/out/html \
    PLAYWRIGHT_JUNIT_OUTPUT_FILE=/out/junit.xml \
    PLAYWRIGHT_OUTPUT_DIR=/out/test-results

# The base image's `node` user, by number: a runtime can then check it is not root without
# reading /etc/passwd (Kubernetes' runAsNonRoot needs a numeric USER).
USER 1000:1000

# BASE_URL must be given at run time; the config fails with a clear message without it.
CMD ["npx", "--no-install", "playwright", "test"]
