/**
 * The demo app `npm start` runs: a small Express site with the ipwatch emitter in front,
 * the way a user's own app would use it. It trusts loopback as its proxy so the traffic
 * simulator can stand in for visitors from many addresses.
 */
import express, { type RequestHandler } from 'express';

/**
 * @param emitter the ipwatch middleware, first: it sees every request and answers blocked ones
 * @param limit its rate limiter, after the body parser so the login limit sees the username
 */
export function createDemoApp(emitter: RequestHandler, limit?: RequestHandler): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(emitter);
  app.use(express.urlencoded({ extended: false, limit: '4kb' }));
  if (limit) app.use(limit);
  app.get('/', (_req, res) => {
    res.type('html').send('<h1>ipwatch demo shop</h1><p>Every request to this app is logged by ipwatch.</p>');
  });
  app.get('/products', (_req, res) => {
    res.json([{ id: 1, name: 'kettle' }, { id: 2, name: 'teapot' }]);
  });
  app.get('/products/:id', (req, res) => {
    const id = Number(req.params.id);
    if (id === 1 || id === 2) res.json({ id });
    else res.status(404).json({ error: 'no such product' });
  });
  app.get('/static/*file', (_req, res) => {
    res.type('text/css').send('body{font-family:sans-serif}');
  });
  app.post('/login', (req, res) => {
    const body = req.body as { username?: string; password?: string } | undefined;
    if (body?.username === 'alice' && body.password === 'correct horse') res.json({ ok: true });
    else res.status(401).json({ error: 'wrong username or password' });
  });
  app.get('/admin', (_req, res) => {
    res.status(403).send('forbidden');
  });
  app.get('/boom', () => {
    throw new Error('simulated failure');
  });
  app.use((_req, res) => {
    res.status(404).send('not found');
  });
  // The simulated failure is expected: answer 500 without printing its stack each time.
  app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).send('internal error');
  });
  return app;
}
