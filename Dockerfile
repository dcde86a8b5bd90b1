# One image for both apps; docker-compose.yml picks the app with `pnpm --filter ... start`.
FROM node:24-bookworm-slim

# pnpm at the version package.json's packageManager names, through corepack.
ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0 \
    PNPM_HOME=/pnpm \
    PATH=/pnpm:$PATH
RUN corepack enable

WORKDIR /app

# Manifests first, so the dependency layer is rebuilt only when they change.
COPY package.json pnpm-workspace.yaml pnpm-lock.yaml ./
COPY apps/api/package.json apps/api/
COPY apps/scheduler/package.json apps/scheduler/
COPY packages/config/package.json packages/config/
COPY packages/dagbag/package.json packages/dagbag/
COPY packages/db/package.json packages/db/
COPY packages/logger/package.json packages/logger/
COPY packages/metrics/package.json packages/metrics/
COPY packages/telemetry/package.json packages/telemetry/
RUN pnpm install --frozen-lockfile

COPY . .

ENV NODE_ENV=production \
    DAGS_FOLDER=/app/dags \
    DATA_DIR=/app/.data
# Task logs and other state live under DATA_DIR, which the unprivileged user must own.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
CMD ["pnpm", "--filter", "@dagbag/api", "start"]
