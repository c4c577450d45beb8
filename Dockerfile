# One image for every ipwatch process of the distributed mode; docker-compose.yml picks
# what each container runs (`ipwatch run <service>`, `ipwatch migrate`, ...).
FROM node:20-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
WORKDIR /app

# Manifests first, so the dependency layer is rebuilt only when they change.
# Every workspace of package.json must be listed here (test/compose.test.ts checks it).
COPY package.json package-lock.json ./
COPY shared/core/package.json shared/core/
COPY shared/emitter/package.json shared/emitter/
COPY shared/store/package.json shared/store/
COPY services/enricher/package.json services/enricher/
COPY services/sink/package.json services/sink/
COPY services/blocksync/package.json services/blocksync/
COPY services/scorer/package.json services/scorer/
COPY services/alerter/package.json services/alerter/
COPY services/api/package.json services/api/
COPY services/cli/package.json services/cli/
# --ignore-scripts: the root `prepare` builds dist/ for apps outside the repo; the services run from sources.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

COPY . .
# npm links a workspace's bin only if its file existed at install time: link `ipwatch` now.
RUN npm rebuild --ignore-scripts \
    && mkdir -p /app/.ipwatch && chown node:node /app/.ipwatch

USER node
# No ENTRYPOINT: compose states the whole command, so it reads as what runs.
CMD ["npx", "--no", "ipwatch", "--help"]
