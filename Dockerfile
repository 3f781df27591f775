# syntax=docker/dockerfile:1
# tserve: build with the toolchain better-sqlite3 needs, run on a slim image as a
# non-root user with the database on a volume.
# Node.js 26 "Lithium": the Active LTS line since 2026-10-28, supported to April 2029
# (20 reached its end of life in April 2026; 24 is in maintenance since October 2026).
# better-sqlite3 12.x declares 26.x; the build stage compiles it when no prebuilt fits.

FROM node:26-trixie-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json schema.sql ./
COPY migrations ./migrations
COPY src ./src
COPY fixtures ./fixtures
COPY terminals ./terminals
COPY settlement ./settlement
RUN npm run build && npm prune --omit=dev

# Production mode by default (docs/keys.md): the KEK and the JWT signing key never live on
# the /data volume. Give them as Docker secrets (compose `secrets:`, `docker service
# create --secret`), each a file of `openssl rand -hex 32`, mode 0600, owned by the
# image's user `node` (uid 1000), and name them:
#   TSERVE_KEK_FILE=/run/secrets/tserve_kek  TSERVE_JWT_KEY_FILE=/run/secrets/tserve_jwt_key
# Without them the switch refuses to start and says what to set. Production never seeds
# the demo network. The demonstration instead, keys and demo credentials on the volume:
#   docker run -e TSERVE_MODE=demo -p 8080:8080 -p 8583:8583 -v tserve-demo:/data tserve
FROM node:26-trixie-slim AS runtime
ENV NODE_ENV=production \
    TSERVE_MODE=production \
    TSERVE_DATA_DIR=/data \
    TSERVE_HTTP_PORT=8080
WORKDIR /app
COPY --from=build /app/package.json /app/schema.sql ./
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The console's front-end: plain files, served as they are (src/console/serve.ts).
COPY --from=build /app/src/console/public ./src/console/public
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# The JSON API (and the stream) and the ISO 8583 listener.
EXPOSE 8080 8583
# GET /healthz on this host, port and TLS read from the same configuration as the switch:
# with TSERVE_TLS_* it speaks https and trusts exactly the configured certificate, though
# that names the public name and not 127.0.0.1 (src/healthcheck.ts); it answers within 2.5 s.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "dist/src/healthcheck.js"]
CMD ["node", "dist/src/main.js"]
