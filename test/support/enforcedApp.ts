/**
 * An app instance as a user would run it, for the enforcement tests and the propagation
 * benchmark: Express + the ipwatch emitter with the block mirror and the rate limiter, over
 * the Kafka and Redis the IPWATCH_* environment names. Started as a child process; prints
 * one JSON line {"port":N} on stdout once it serves. Trusts only 127.0.0.1 as its proxy.
 *
 * Routes: GET /hello (no limit but the class limit), GET /search (5 per minute per client),
 * POST /login (3 per 5 minutes per IP and per username), GET /__state (mirror, limiter and
 * emitter figures, as JSON), GET /__metrics (Prometheus).
 */
import express from 'express';
import { loadConfig } from '@ipwatch/core/config';
import { createEventLog } from '@ipwatch/core/eventLog/index';
import { createRedisSharedLists } from '@ipwatch/core/sharedLists/redis';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { ipwatch, createBlockMirror, createRateLimiter, registerEnforcementMetrics } from '@ipwatch/emitter';

const config = loadConfig();
if (!config.redis) throw new Error('enforcedApp needs IPWATCH_REDIS_URL');
const log = createEventLog(config);
const lists = createRedisSharedLists(config.redis.url, { name: 'enforced-app-lists' });
const mirror = createBlockMirror({ lists });
const limiter = createRateLimiter({
  store: config.redis.url,
  rules: {
    anonymous: '1000/m',
    authenticated: false,
    login: { rate: '3/5m', paths: ['/login'], methods: ['POST'], username: (req) => (req as express.Request).body?.username },
    routes: [{ name: 'search', path: '/search', rate: '5/m', by: 'ip' }],
  },
});
const tracker = ipwatch({ log, app: 'enforced-app', trustedProxies: ['127.0.0.1'], blockMirror: mirror, rateLimiter: limiter, rateLimitAt: 'mounted' });

const metrics = createMetrics('enforced-app');
registerEnforcementMetrics(metrics, { tracker, blockMirror: mirror, rateLimiter: limiter });

const app = express();
app.use(tracker);
app.use(express.json({ limit: '4kb' }));
app.get('/__state', (_req, res) => {
  res.json({ mirror: mirror.state(), limiter: limiter.stats(), tracker: tracker.stats() });
});
app.get('/__metrics', async (_req, res) => {
  res.type(metrics.contentType).send(await metrics.text());
});
app.use(tracker.limit());
app.get('/hello', (_req, res) => void res.send('hello'));
app.get('/search', (_req, res) => void res.json({ results: [] }));
app.post('/login', (_req, res) => void res.status(401).json({ error: 'wrong password' }));

await mirror.ready;
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});

const stop = async () => {
  server.close();
  server.closeAllConnections();
  await tracker.close(2000);
  await mirror.close();
  await limiter.close();
  await lists.close();
  await log.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
