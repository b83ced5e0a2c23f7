# autopilot-redis: one cluster node = Redis + Sentinel + ContainerPilot (PID 1) + the
# `manage` handlers (DESIGN.md §1). The first stages produce the three things the
# final image takes from them, and keep every build tool to themselves: the Node
# binary (node-base), the bundled handlers (build) and the verified ContainerPilot
# binary (containerpilot). The final image adds no compiler, npm or downloader.
#
# Only Dockerfile syntax the classic builder also understands is used (no RUN
# --mount, no COPY --chmod, no heredocs), so `docker build`, compose and
# testcontainers build it alike.
#
# ContainerPilot 3.8.0 is released for linux/amd64 only, so is this image; on an
# arm64 host build and run it with --platform linux/amd64.

# Base images are named literally in FROM (not through ARGs) so that tools reading
# FROM lines (testcontainers' build, dependency bots) see real image names.
#
# One Node image for building and for the runtime binary, so both run the same Node.
FROM node:24-bookworm-slim AS node-base

# --- handlers: src/ -> dist/manage.mjs, one bundled file (DESIGN.md §10) -----------
FROM node-base AS build
WORKDIR /app
# Dependencies first, so editing src/ does not re-run npm ci. Only the files the
# build reads are copied: never node_modules or an operator's _env from the context.
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency (it pins Node 24 for developers whose
# system Node is older) would otherwise download a second 126 MB Node in its
# preinstall, and, linked as node_modules/.bin/node, run tsc and the bundler in place
# of this image's Node. No other install script is needed to build: esbuild finds its
# binary through its platform package, cpu-features, ssh2 and protobufjs serve only
# the tests, and dtrace-provider stays outside the bundle. `test ! -e` fails the
# build should a second Node appear anyway.
RUN npm ci --no-audit --no-fund --ignore-scripts && test ! -e node_modules/.bin/node
COPY tsconfig.json ./
COPY scripts ./scripts
# types/ declares the manta client, which ships no typings: the type-check needs it.
COPY types ./types
COPY src ./src
# `npm run build` type-checks, then bundles with esbuild and marks the file executable;
# chmod again so the mode does not depend on the build script.
RUN npm run build && chmod 0755 dist/manage.mjs

# --- ContainerPilot: downloaded and checked apart, so no downloader ships -----------
FROM node-base AS containerpilot
ARG CONTAINERPILOT_VERSION=3.8.0
ARG CONTAINERPILOT_SHA1=84642c13683ddae6ccb63386e6160e8cb2439c26
# ADD fetches the release without curl; sha1sum -c fails the build on any mismatch
# (the project publishes SHA-1 sums only).
ADD https://github.com/joyent/containerpilot/releases/download/${CONTAINERPILOT_VERSION}/containerpilot-${CONTAINERPILOT_VERSION}.tar.gz /tmp/containerpilot.tar.gz
RUN set -eu; \
    echo "${CONTAINERPILOT_SHA1}  /tmp/containerpilot.tar.gz" | sha1sum -c -; \
    mkdir /out; \
    tar -xzf /tmp/containerpilot.tar.gz -C /out; \
    chmod 0755 /out/containerpilot

# --- the cluster node image ----------------------------------------------------------
# Redis 7.2: the last BSD-licensed line (7.4 moved to RSALv2/SSPL), maintained, and
# the closest to the 7.0 that Debian bookworm's redis-server runs the tests with.
FROM redis:7.2-bookworm

# The redis image already owns /data to the redis user and declares it a VOLUME, so
# each container gets its own data volume. CONFIG_DIR must be writable because
# Sentinel rewrites sentinel.conf in place; BACKUP_DIR is where compose mounts the
# shared `backups` volume, and Docker copies this directory's owner into a fresh
# named volume. The compile cache directory is explained below.
RUN set -eu; \
    mkdir -p /etc/redis /backups /var/cache/manage; \
    chown redis:redis /etc/redis /backups /var/cache/manage

# Only the official Node binary: no npm, headers or corepack. Its libraries (glibc,
# libstdc++, libgcc) are already in this Debian base, which apt itself needs.
COPY --from=node-base /usr/local/bin/node /usr/local/bin/node
COPY --from=containerpilot /out/containerpilot /usr/local/bin/containerpilot
# The Consul client agent a node runs with CONSUL_AGENT=true (the Swarm stack): taken
# from the same image the stack runs its servers from, so agent and servers match.
# The binary is all this adds to the image (70 MB for the 1.10.3 the lab's stand-in
# carries, more for 1.20); a node without CONSUL_AGENT never starts it.
COPY --from=hashicorp/consul:1.20 /bin/consul /usr/local/bin/consul
# The bundle starts with `#!/usr/bin/env node`, so it runs as a plain command.
COPY --from=build /app/dist/manage.mjs /usr/local/bin/manage
# The health checks' thin client of the agent's API: bash and its /dev/tcp, no curl.
COPY scripts/agent-check /usr/local/bin/agent-check
COPY containerpilot.json5 /etc/containerpilot.json5
RUN chmod 0755 /usr/local/bin/agent-check

USER redis

# Fail the build, not the first start, when node cannot run here, the bundle is
# broken, or bash cannot open TCP connections (the health checks need /dev/tcp).
RUN node --version && manage --help > /dev/null && consul version > /dev/null && bash -c ': </dev/tcp/127.0.0.1/1' 2>&1 | grep -q 'Connection refused'

# One-shot handlers (backup every BACKUP_CHECK_INTERVAL, pre-start, an operator's
# status) skip compiling the bundle again with V8's compile cache; it is set after
# the smoke test above so a real handler run, not `--help`, fills it.
ENV NODE_COMPILE_CACHE=/var/cache/manage

# Redis, Sentinel, and the agent's read-only HTTP API (API_PORT).
EXPOSE 6379 26379 8008

# ContainerPilot is PID 1 and reaps every handler. The redis image's entrypoint
# exists to drop root before a bare redis-server; USER redis makes it moot, so it
# is cleared rather than left to wrap ContainerPilot.
ENTRYPOINT []
CMD ["containerpilot", "-config", "/etc/containerpilot.json5"]
