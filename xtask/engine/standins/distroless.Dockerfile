# Stand-in for the official gcr.io/distroless/cc-debian12:nonroot image, assembled from the
# Debian 12 packages distroless itself is made of: base-files (/etc/os-release, so scanners
# see Debian 12), netbase, tzdata, ca-certificates (the CA bundle), libc6 and libgcc-s1. No
# shell, no package manager, no coreutils. Like the official image: users root, nonroot
# (65532) and nobody, USER 65532:65532, HOME /home/nonroot, /tmp writable by all. Like the
# official image, each package's control file is in /var/lib/dpkg/status.d/, so scanners
# (trivy, syft) see the packages without a dpkg database.
FROM debian:bookworm-slim AS rootfs
WORKDIR /tmp/debs
RUN apt-get update \
 && apt-get download base-files netbase tzdata libc6 libgcc-s1 ca-certificates \
 && mkdir /rootfs \
 && mkdir -p /rootfs/var/lib/dpkg/status.d \
 && for deb in ./*.deb; do \
      dpkg-deb -x "$deb" /rootfs; \
      dpkg-deb -f "$deb" > "/rootfs/var/lib/dpkg/status.d/$(dpkg-deb -f "$deb" Package)"; \
    done \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /rootfs/usr/share/doc/*/changelog* /rootfs/usr/share/man /rootfs/usr/share/lintian \
      /rootfs/usr/share/info /rootfs/usr/sbin /rootfs/usr/bin /rootfs/sbin /rootfs/bin \
 && mkdir -p /rootfs/etc/ssl/certs /rootfs/home/nonroot /rootfs/tmp /rootfs/root \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >/rootfs/etc/passwd \
 && printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >/rootfs/etc/group \
 && chown 65532:65532 /rootfs/home/nonroot \
 && chmod 1777 /rootfs/tmp \
 && chmod 700 /rootfs/root

FROM scratch
COPY --from=rootfs /rootfs /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/nonroot
