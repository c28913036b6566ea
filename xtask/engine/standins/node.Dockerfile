# Stand-in for the official node:20-bookworm-slim image, built from the debian:bookworm-slim
# stand-in, Debian's CA store and this machine's node 20 binary and npm. Like the official
# image it has a `node` user with uid 1000. Node does not read the system CA store, hence
# NODE_EXTRA_CA_CERTS.
FROM debian:bookworm-slim
ENV NODE_VERSION=20 \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
CMD ["node"]
