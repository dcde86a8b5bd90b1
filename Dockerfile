# One image for both apps; docker-compose.yml picks the app by its command:
#   node apps/api/src/main.ts        (the default)
#   node apps/scheduler/src/main.ts
# Node 24 runs the TypeScript sources itself (type stripping: the code uses only erasable syntax,
# `erasableSyntaxOnly` in tsconfig.base.json), so there is no transpiler in the running image.
FROM node:24-bookworm-slim

# pnpm at the version package.json's packageManager names, through corepack.
ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0 \
    PNPM_HOME=/pnpm \
    PATH=/pnpm:$PATH
RUN corepack enable

WORKDIR /app

# Dependencies are fetched from the lockfile alone, so this layer is rebuilt only when the
# lockfile changes, and no list of workspace manifests has to be kept in step with the repository.
COPY package.json pnpm-workspace.yaml pnpm-lock.yaml ./
RUN pnpm fetch

# Then the sources, and an offline install that links the workspace. Its postinstall runs
# `prisma generate` (packages/db/scripts/generate.mjs, on WebAssembly: nothing is downloaded),
# which needs packages/db/prisma and prisma.config.ts: both are in the context (.dockerignore
# leaves out only node_modules, local data and build output, including the generated client).
COPY . .
RUN pnpm install --offline --frozen-lockfile \
 && test -f packages/db/src/generated/prisma/client.ts

ENV NODE_ENV=production \
    DAGS_FOLDER=/app/dags \
    DATA_DIR=/app/.data
# Task logs and other state live under DATA_DIR, which the unprivileged user must own.
RUN mkdir -p /app/.data/logs && chown -R node:node /app/.data
USER node
# node runs main.ts itself (no pnpm wrapper process in between), so SIGTERM reaches the
# app's own handler: drain requests, let running tasks finish. The scheduler reaps each task and
# its watchdog itself, even as PID 1; run it with an init all the same (compose: `init: true`,
# `docker run --init`) for what a task leaves running in the background: the watchdog kills it
# when the try ends, and only an init reaps it then.
CMD ["node", "apps/api/src/main.ts"]
