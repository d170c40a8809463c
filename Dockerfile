# syntax=docker/dockerfile:1

# Keeps only the workspace manifests, so the dependency layer below is rebuilt
# when a package.json changes, not on every source edit.
FROM node:20-bookworm-slim AS manifests
WORKDIR /src
COPY apps apps
COPY packages packages
RUN find apps packages -mindepth 2 -maxdepth 2 ! -name package.json -exec rm -rf {} +

FROM node:20-bookworm-slim AS build
RUN npm i -g pnpm@12.21.0
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
COPY --from=manifests /src ./
RUN pnpm install --frozen-lockfile
COPY . .
# `prisma generate` needs no schema engine; pointing at any executable stops a download attempt.
RUN PRISMA_SCHEMA_ENGINE_BINARY=/bin/true PRISMA_HIDE_UPDATE_MESSAGE=1 pnpm exec prisma generate
# The board (apps/web) is built to static files that the api serves at /; the server and
# its CLI are bundled to apps/server/dist (plain JavaScript, no TypeScript at run time).
RUN cd apps/web && pnpm exec vite build --logLevel error
RUN node scripts/build-server.mjs

# Production dependencies of the server alone, in a clean tree: no test tools or compilers.
# The optional local model (node-llama-cpp, ~90 MB, used by one test and never by the
# server) is left out unless LOCAL_MODEL=true.
FROM node:20-bookworm-slim AS prod-deps
RUN npm i -g pnpm@12.21.0
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
COPY --from=manifests /src ./
ARG LOCAL_MODEL=false
RUN CI=true pnpm install --frozen-lockfile --prod --filter "@ccl/server..." \
 && if [ "$LOCAL_MODEL" != true ]; then rm -rf node_modules/.pnpm/*node-llama-cpp*; fi

FROM node:20-bookworm-slim AS runtime
# What the product spawns at run time: git for every workspace (clone, diff, commit),
# bubblewrap for the sandbox around agent commands, CA certificates for HTTPS to model
# providers and GitHub. apps/server/src/dockerfile-runtime.test.ts keeps this list honest.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates bubblewrap \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 clawlink \
 && useradd --system --uid 10001 --gid clawlink --home-dir /app --shell /usr/sbin/nologin clawlink
WORKDIR /app
# Code stays owned by root so the server cannot rewrite it; only the data directory (the
# embedded PostgreSQL, used when DATABASE_URL is unset) is writable. What the server reads
# at run time: its bundle, the board, the migrations and the built-in skills.
COPY --from=prod-deps /app ./
COPY --from=build /app/apps/server/dist apps/server/dist
COPY --from=build /app/apps/web/dist apps/web/dist
COPY --from=build /app/prisma prisma
COPY --from=build /app/skills skills
RUN mkdir -p /app/.data && chown clawlink:clawlink /app/.data
USER clawlink
ENV HOST=0.0.0.0 PORT=8000 NODE_ENV=production LOG_FORMAT=json
EXPOSE 8000
# Slim images have no curl; Node's own fetch does the probe.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "apps/server/dist/cli.mjs"]
CMD ["start", "--role", "all"]
