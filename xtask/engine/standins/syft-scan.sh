#!/bin/sh
# BuildKit's SBOM scanner protocol (moby/buildkit docs/attestations/sbom-protocol.md):
# BuildKit mounts the root filesystem to scan at $BUILDKIT_SCAN_SOURCE and, optionally, a
# directory of further root filesystems at $BUILDKIT_SCAN_SOURCE_EXTRAS (scan stages and
# contexts); for each one, named by its last path component, this writes an in-toto
# statement with an SPDX predicate to $BUILDKIT_SCAN_DESTINATION/<name>.spdx.json, and
# nothing for any other filesystem. Only sh builtins and cat: busybox is all there is.
set -eu

: "${BUILDKIT_SCAN_DESTINATION:?BuildKit sets it: the directory to write the SBOMs to}"
: "${BUILDKIT_SCAN_SOURCE:?BuildKit sets it: the root filesystem to scan}"

# scan ROOT [CATALOGERS]: the image's own filesystem is catalogued as an image (its installed
# OS and language packages); a build stage (BUILDKIT_SBOM_SCAN_STAGE) also by its Cargo.lock,
# which names the crates the workspace locks, the service's own among them.
scan() {
  root=$1
  extra=${2:-}
  name=${root%/}
  name=${name##*/}
  spdx=/tmp/$name.spdx
  # The filesystem is scanned as an image's (OS packages included, its symlinks resolved
  # inside it, paths relative to its root), plus the SBOMs found in it.
  syft scan "dir:$root" --base-path "$root" --source-name "$name" -q \
    --override-default-catalogers "image$extra" --select-catalogers +sbom-cataloger \
    -o "spdx-json=$spdx"
  {
    printf '{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","predicate":'
    cat "$spdx"
    printf '}\n'
  } >"$BUILDKIT_SCAN_DESTINATION/$name.spdx.json"
}

scan "$BUILDKIT_SCAN_SOURCE"
extras=${BUILDKIT_SCAN_SOURCE_EXTRAS:-}
if [ -n "$extras" ] && [ -d "$extras" ]; then
  for dir in "$extras"/*; do
    if [ -d "$dir" ]; then scan "$dir" ,rust-cargo-lock-cataloger; fi
  done
fi
