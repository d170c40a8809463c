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
# Dev dependencies stay: tsx runs the TypeScript sources directly, there is no compile step.
RUN pnpm install --frozen-lockfile
COPY . .
# `prisma generate` needs no schema engine; pointing at any executable stops a download attempt.
RUN PRISMA_SCHEMA_ENGINE_BINARY=/bin/true PRISMA_HIDE_UPDATE_MESSAGE=1 pnpm exec prisma generate
# The board (apps/web) is built to static files that the api serves at /.
RUN pnpm exec turbo run build --filter=@ccl/web --output-logs=errors-only

FROM node:20-bookworm-slim AS runtime
RUN groupadd --system --gid 10001 clawlink \
 && useradd --system --uid 10001 --gid clawlink --home-dir /app --shell /usr/sbin/nologin clawlink
WORKDIR /app
# Sources stay owned by root so the server cannot rewrite its own code; only the
# data directory (the embedded PostgreSQL, used when DATABASE_URL is unset) is writable.
COPY --from=build /app ./
RUN mkdir -p /app/.data && chown clawlink:clawlink /app/.data
USER clawlink
ENV HOST=0.0.0.0 PORT=8000 NODE_ENV=production
EXPOSE 8000
# Slim images have no curl; Node's own fetch does the probe.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "--import", "tsx", "apps/server/src/cli.ts"]
CMD ["start", "--role", "all"]
