/**
 * API v1's answers against its OpenAPI document, on a real api (in-process event log, chDB with
 * the client-analysis fixture): every operation is called with realistic input and each answer
 * (errors too, and the refusals no route makes) validates against the document's schema with
 * ajv. The document's shape and its agreement with the routes: openapi.chdb.test.ts.
 */
import { jest, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { API_V1, OPENAPI, type HttpMethod } from '../services/api/src/v1/openapi.ts';
import { FIXTURE } from '../shared/store/src/queries/clientAnalysis.fixture.ts';
import { assertRefused } from './support/refusal.ts';
import { DOC_ID, H, TOKEN, ajv, bodyConforms, conforms, now, rawGet, serve, templateOf, validated } from './support/openapiApi.ts';

// ---- (b) answers match their schemas -------------------------------------------------

test('every operation, called with realistic input, answers what its schema says; so do its refusals', async () => {
  const { send, port } = await serve();
  const v = (path: string) => `${API_V1}${path}`;
  const call = async (method: HttpMethod, path: string, expected: number, options: Parameters<typeof send>[2] = {}) => {
    if (options.body !== undefined && typeof options.body !== 'string') bodyConforms(method, templateOf(v(path)), options.body);
    const answer = await send(method.toUpperCase(), v(path), options);
    assert.equal(answer.status, expected, `${method.toUpperCase()} ${path}: ${JSON.stringify(answer.body).slice(0, 500)}`);
    conforms(method, v(path), answer);
    return answer;
  };

  // The service.
  assert.equal((await call('get', '/status', 200)).body.ok, true);
  const doc = await call('get', '/openapi.json', 200, { token: null });
  assert.deepEqual(doc.body, JSON.parse(JSON.stringify(OPENAPI)), 'the document served is the module\'s');

  // The request log, filtered; a bad filter.
  const page = await call('get', `/requests?ip=${encodeURIComponent('198.51.100.0/24')}&since=1d&status=4xx&country=fr&limit=5`, 200);
  assert.ok((page.body.rows as unknown[]).length > 0, 'the fixture\'s requests are listed');
  await call('get', `/requests?path=${encodeURIComponent("' OR 1=1 --")}&until=2099-01-01`, 200);
  assertRefused(await call('get', '/requests?status=teapot', 400), 'IPWATCH_BAD_FILTER');
  assertRefused(await call('get', '/requests?ip=10.0.0.1/8', 400), 'IPWATCH_BAD_FILTER');

  // Blocks: add, replace, list, import, remove, nothing to remove.
  const blockBody = { target: '203.0.113.7', reason: 'scanner', expires: '+7d', severity: 'high', actor: 'ops@laptop' };
  assert.equal((await call('post', '/blocks', 201, { body: blockBody })).body.replaced, false);
  const replaced = await call('post', '/blocks', 200, { body: { ...blockBody, expires: 'never' } });
  assert.deepEqual((replaced.body.changes as Array<{ field: string }>).map((c) => c.field), ['expiresAt']);
  const blocks = await call('get', '/blocks', 200);
  assert.ok((blocks.body.rows as Array<{ source: string }>).some((r) => r.source === 'sensitive-files'), 'the rule\'s block is listed');
  await call('get', `/blocks?covers=${FIXTURE.ip}&expired=true&limit=10`, 200);
  assert.equal((await call('post', '/blocks/import', 201, { body: { targets: ['192.0.2.1', '192.0.2.16/28', '2001:db8:9::/48'], reason: 'feed', severity: 'medium', expires: '+1d' } })).body.imported, 3);
  await call('delete', '/blocks?target=203.0.113.7&reason=done&actor=ops', 200);
  assertRefused(await call('delete', '/blocks?target=203.0.113.99', 404), 'IPWATCH_NOT_LISTED');
  assertRefused(await call('post', '/blocks', 400, { body: { ...blockBody, expires: 'tomorrow' } }), 'IPWATCH_BAD_DECISION');
  assertRefused(await call('post', '/blocks', 403, { body: { target: '203.0.113.8', source: 'burst' } }), 'IPWATCH_RESERVED_SOURCE');
  assertRefused(await call('post', '/blocks', 415, { body: 'target=203.0.113.7', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'IPWATCH_NOT_JSON');
  assertRefused(await call('post', '/blocks', 413, { body: JSON.stringify({ target: 'x'.repeat(20_000) }) }), 'IPWATCH_BODY_TOO_LARGE');

  // The allowlist.
  await call('post', '/allowlist', 201, { body: { target: '10.1.0.0/16', reason: 'office', expires: 'never', actor: 'ops' } });
  await call('get', '/allowlist?expired=false', 200);
  await call('delete', '/allowlist?target=10.1.0.0/16', 200);
  assertRefused(await call('delete', '/allowlist?target=10.1.0.0/16', 404), 'IPWATCH_NOT_LISTED');

  // The audit trail.
  const events = await call('get', '/block-events?limit=50', 200);
  assert.ok((events.body.rows as unknown[]).length >= 5);
  await call('get', '/block-events?target=203.0.113.7', 200);
  assertRefused(await call('get', '/block-events?target=10.0.0.5/24', 400), 'IPWATCH_INVALID_ADDRESS');

  // A client: blocked by a rule (with its detection as evidence), an IPv6 /64 allowlisted, one unseen.
  const analysis = await call('get', `/clients/${FIXTURE.ip}/analysis?hours=3`, 200);
  const covering = (analysis.body.blockedNow as { blocks: Array<{ evidence: unknown }> }).blocks;
  assert.ok(covering.some((b) => b.evidence !== null), 'a block with evidence was validated');
  await call('get', `/clients/${encodeURIComponent(FIXTURE.ip6)}/analysis?hours=3`, 200);
  await call('get', '/clients/192.0.2.200/analysis', 200);
  assertRefused(await call('get', '/clients/example.com/analysis', 400), 'IPWATCH_INVALID_ADDRESS');

  // The daily report of the fixture's day, and a day that does not exist.
  const day = new Date(now - H).toISOString().slice(0, 10);
  const report = await call('get', `/reports/daily?date=${day}&tz=UTC&top=5`, 200);
  assert.ok(((report.body.totals as { requests: { value: number } }).requests.value) > 0, 'the report has figures');
  await call('get', '/reports/daily?tz=Europe/Paris', 200);
  assertRefused(await call('get', '/reports/daily?date=2015-02-30', 400), 'IPWATCH_BAD_FILTER');

  // What the dashboard shows: the overview, detections paged, rate-limit refusals; bad filters.
  const overview = await call('get', '/overview', 200);
  assert.ok(((overview.body.totals as { requests: { value: number } }).requests.value) > 0, 'the overview has figures');
  assert.ok((overview.body.latestDetections as unknown[]).length > 0 && (overview.body.latestBlocks as unknown[]).length > 0, 'and latest detections and blocks');
  await call('get', `/overview?since=3h&until=${encodeURIComponent(new Date(now).toISOString())}&bucket=15m&top=3&latest=2`, 200);
  assertRefused(await call('get', '/overview?bucket=7x', 400), 'IPWATCH_BAD_FILTER');
  assertRefused(await call('get', '/overview?since=60d', 400), 'IPWATCH_BAD_FILTER', /at most 31 days/);
  const log = await call('get', `/request-log?ip=${encodeURIComponent('198.51.100.0/24')}&not_status=2xx&method=get&limit=2`, 200);
  assert.equal((log.body.rows as Array<{ status: number }>).length, 2);
  assert.ok((log.body.rows as Array<{ status: number }>).every((r) => r.status >= 300), 'the exclusion applied');
  const older = await call('get', `/request-log?ip=${encodeURIComponent('198.51.100.0/24')}&not_status=2xx&method=get&limit=2&before=${encodeURIComponent(log.body.next as string)}`, 200);
  assert.notDeepEqual(older.body.rows, log.body.rows);
  await call('get', `/request-log?ua=${encodeURIComponent('\u001b[2J')}&country=FR&asn=AS16276&user=admin&blocked=false&limited=no&since=1d&until=2099-01-01`, 200);
  assertRefused(await call('get', '/request-log?blocked=maybe', 400), 'IPWATCH_BAD_FILTER');
  assertRefused(await call('get', '/request-log?not_asn=ASX', 400), 'IPWATCH_BAD_FILTER', /not_asn/);
  const first = await call('get', '/detections?limit=1', 200);
  assert.equal((first.body.rows as unknown[]).length, 1);
  assert.equal(typeof first.body.next, 'string', 'there is an older page');
  const second = await call('get', `/detections?limit=1&before=${encodeURIComponent(first.body.next as string)}`, 200);
  assert.notDeepEqual(second.body.rows, first.body.rows);
  const filtered = await call('get', `/detections?rule=sensitive-files&severity=high&mode=live&client=${encodeURIComponent('198.51.100.0/24')}&since=1d`, 200);
  assert.ok((filtered.body.rows as Array<{ rule: string }>).every((r) => r.rule === 'sensitive-files') && (filtered.body.rows as unknown[]).length > 0);
  assertRefused(await call('get', '/detections?severity=urgent', 400), 'IPWATCH_BAD_FILTER');
  assertRefused(await call('get', '/detections?before=yesterday', 400), 'IPWATCH_BAD_FILTER');
  const limits = await call('get', `/rate-limits?ip=${FIXTURE.ip}&since=1d`, 200);
  assert.ok((limits.body.rows as unknown[]).length > 0 && (limits.body.byRule as unknown[]).length > 0);
  await call('get', '/rate-limits?rule=login&limit=1', 200);
  assertRefused(await call('get', '/rate-limits?ip=nope', 400), 'IPWATCH_BAD_FILTER');
  assertRefused(await call('get', '/rate-limits?rule=', 400), 'IPWATCH_BAD_FILTER', /rule is empty/);
  for (const path of ['/api/overview', '/api/request-log', '/api/detections', '/api/rate-limits']) assertRefused(await send('GET', path), 'IPWATCH_NO_SUCH_ENDPOINT');

  // Rules: list, show, change, create, the four shorthands, reset and delete.
  const { rules } = (await call('get', '/rules', 200)).body as { rules: Array<{ id: string; threshold: number }> };
  const burst = rules.find((r) => r.id === 'burst');
  assert.ok(burst);
  await call('get', '/rules/burst', 200);
  assertRefused(await call('get', '/rules/brust', 404), 'IPWATCH_NO_SUCH_RULE');
  await call('put', '/rules/burst', 200, { body: { threshold: burst.threshold + 10, description: 'tuned' } });
  await call('put', '/rules/login-probe', 201, { body: { kind: 'login_failures', windowMs: 60_000, threshold: 5, severity: 'medium', mode: 'dry_run' } });
  // Sent as text: a body the schema refuses too (below its minimum), so the api must refuse it.
  assertRefused(await call('put', '/rules/burst', 400, { body: JSON.stringify({ windowMs: 10 }) }), 'IPWATCH_INVALID_RULE');
  for (const shorthand of ['disable', 'enable', 'live', 'dry-run']) await call('post', `/rules/burst/${shorthand}`, 200, { body: {} });
  assert.equal((await call('delete', '/rules/login-probe', 200)).body.reset, 'deleted');
  assert.equal((await call('delete', '/rules/burst', 200)).body.reset, 'restored');
  assert.equal((await call('delete', '/rules/burst', 200)).body.reset, 'unchanged');

  // SQL: a query (JSON; CSV as a file named by its audit id), refused by ClickHouse's guards, stopped by a limit, invalid, not JSON.
  const answered = await call('post', '/sql', 200, { body: { query: `SELECT status, count() AS n FROM requests WHERE ip = toIPv6('${FIXTURE.ip}') GROUP BY status ORDER BY status` } });
  assert.ok((answered.body.rows as unknown[]).length > 0, 'the fixture\'s requests are counted');
  assert.equal(answered.headers.get('cache-control'), 'no-store');
  const sqlCsv = await fetch(`http://127.0.0.1:${port}${v('/sql')}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: 'SELECT 1 AS one', format: 'csv' }) });
  assert.equal(sqlCsv.status, 200);
  assert.match(sqlCsv.headers.get('content-disposition') ?? '', /^attachment; filename="ipwatch-sql-[0-9a-f-]{36}\.csv"$/);
  assert.equal(await sqlCsv.text(), 'one\n1\n');
  await call('post', '/sql', 200, { body: { query: 'SELECT 1', format: 'json' } });
  assertRefused(await call('post', '/sql', 403, { body: { query: 'DROP TABLE requests' } }), 'IPWATCH_SQL_REFUSED', /read-only/);
  assertRefused(await call('post', '/sql', 422, { body: { query: 'SELECT number FROM numbers(20000)' } }), 'IPWATCH_SQL_LIMIT', /IPWATCH_SQL_MAX_RESULT_ROWS/);
  assertRefused(await call('post', '/sql', 400, { body: { query: 'SELEC 1' } }), 'IPWATCH_SQL_INVALID');
  assertRefused(await call('post', '/sql', 400, { body: JSON.stringify({ query: 'SELECT 1', format: 'xml' }) }), 'IPWATCH_USAGE', /json or csv/);
  assertRefused(await call('post', '/sql', 415, { body: 'query=SELECT+1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'IPWATCH_NOT_JSON');
  assertRefused(await call('post', '/sql', 413, { body: JSON.stringify({ query: `SELECT '${'x'.repeat(300_000)}'` }) }), 'IPWATCH_BODY_TOO_LARGE');
  assertRefused(await call('post', '/sql', 401, { body: { query: 'SELECT 1' }, token: null }), 'IPWATCH_BAD_TOKEN');

  // Privacy: an export (JSON; CSV as a file named by its audit id), an erasure and its repeat, the audit log, erasures under way.
  const exported = await call('post', '/privacy/export', 200, { body: { ip: FIXTURE.ip } });
  assert.ok((exported.body.total as number) > 0, 'the fixture\'s client has rows');
  assert.equal(exported.headers.get('cache-control'), 'no-store');
  const csv = await fetch(`http://127.0.0.1:${port}${v('/privacy/export')}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ ip: FIXTURE.ip, format: 'csv' }) });
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
  assert.match(csv.headers.get('content-disposition') ?? '', /^attachment; filename="ipwatch-export-[0-9a-f-]{36}\.csv"$/);
  assert.equal((await csv.text()).split('\n')[0], 'table,row,field,value,meaning');
  assert.equal((await call('post', '/privacy/export', 200, { body: { user: 'nobody-here', force: false, format: 'json' } })).body.total, 0);
  const erased = await call('post', '/privacy/erase', 200, { body: { ip: FIXTURE.ip6Other } });
  assert.ok(((erased.body.removed as Record<string, number>).requests ?? 0) > 0, 'the erasure removed requests');
  assert.equal((await call('post', '/privacy/erase', 200, { body: { ip: FIXTURE.ip6Other, force: false } })).body.nothingFound, true);
  assertRefused(await call('post', '/privacy/erase', 400, { body: { ip: '10.0.0.0/8' } }), 'IPWATCH_ERASE_TOO_WIDE', /IPWATCH_ERASE_MAX_PREFIX_V4/);
  assertRefused(await call('post', '/privacy/export', 400, { body: JSON.stringify({ ip: FIXTURE.ip, user: 'alice' }) }), 'IPWATCH_USAGE');
  assertRefused(await call('post', '/privacy/export', 400, { body: JSON.stringify({ ip: FIXTURE.ip, format: 'xml' }) }), 'IPWATCH_USAGE', /json or csv/);
  assertRefused(await call('post', '/privacy/erase', 415, { body: `ip=${FIXTURE.ip}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'IPWATCH_NOT_JSON');
  assertRefused(await call('post', '/privacy/erase', 401, { body: { ip: FIXTURE.ip }, token: null }), 'IPWATCH_BAD_TOKEN');
  const audit = (await call('get', '/privacy/audit?limit=10&action=erase', 200)).body.rows as Array<{ action: string; outcome: string }>;
  assert.deepEqual(audit.map((r) => `${r.action} ${r.outcome}`).sort(), ['erase completed', 'erase nothing_found', 'erase started'], 'the erasure (started, completed) and its repeat');
  assert.ok(!JSON.stringify(audit).includes(FIXTURE.ip6Other), 'the audit log holds no address');
  await call('get', '/privacy/audit', 200);
  assertRefused(await call('get', '/privacy/audit?action=read', 400), 'IPWATCH_BAD_FILTER');
  assert.deepEqual((await call('get', '/privacy/pending', 200)).body.rows, []);

  // Refusals before any route: no token, another origin, an unknown endpoint.
  const noToken = await call('get', '/requests', 401, { token: null });
  assert.equal(noToken.headers.get('www-authenticate'), 'Bearer');
  assertRefused(noToken, 'IPWATCH_BAD_TOKEN');
  assertRefused(await call('get', '/status', 403, { headers: { origin: 'http://evil.example' } }), 'IPWATCH_CROSS_ORIGIN');
  assertRefused(await call('get', '/openapi.json', 403, { token: null, headers: { origin: 'http://evil.example' } }), 'IPWATCH_CROSS_ORIGIN');
  const unknown = await send('GET', v('/nothing'));
  assertRefused(unknown, 'IPWATCH_NO_SUCH_ENDPOINT', /under \/api\/v1\/ the api serves status, requests, blocks/);
  const validateError = ajv.getSchema(`${DOC_ID}#/components/schemas/Error`)!;
  assert.ok(validateError(unknown.body), ajv.errorsText(validateError.errors));
  // With a token configured, the document answers any Host without one (the rest does not).
  assert.equal((await rawGet(port, v('/openapi.json'), { host: 'ipwatch.internal:7070' })).status, 200);
  assert.equal((await rawGet(port, v('/status'), { host: 'ipwatch.internal:7070' })).status, 401);

  // Every operation of the document was called and its success validated.
  const missing = Object.entries(OPENAPI.paths).flatMap(([path, item]) =>
    Object.keys(item).filter((m) => ![...(validated.get(`${m.toUpperCase()} ${path}`) ?? [])].some((s) => s.startsWith('2'))).map((m) => `${m.toUpperCase()} ${path}`),
  );
  assert.deepEqual(missing, [], 'operations never validated');
}, 120_000);

test('the refusals no route makes: 503 without the lists, 429 after wrong tokens, 500 with nothing leaked; all match their schemas', async () => {
  const bare = await serve({}, false);
  for (const path of ['/blocks', '/allowlist', '/rules', '/rules/burst']) {
    const answer = await bare.send('GET', `${API_V1}${path}`);
    assertRefused(answer, 'IPWATCH_LISTS_UNAVAILABLE');
    conforms('get', `${API_V1}${path}`, answer);
  }
  for (const path of ['/privacy/audit', '/privacy/pending']) {
    const answer = await bare.send('GET', `${API_V1}${path}`);
    assertRefused(answer, 'IPWATCH_PRIVACY_UNAVAILABLE');
    conforms('get', `${API_V1}${path}`, answer);
  }
  const noPrivacy = await bare.send('POST', `${API_V1}/privacy/erase`, { body: { ip: FIXTURE.ip } });
  assertRefused(noPrivacy, 'IPWATCH_PRIVACY_UNAVAILABLE');
  conforms('post', `${API_V1}/privacy/erase`, noPrivacy);
  const noSql = await bare.send('POST', `${API_V1}/sql`, { body: { query: 'SELECT 1' } });
  assertRefused(noSql, 'IPWATCH_SQL_UNAVAILABLE');
  conforms('post', `${API_V1}/sql`, noSql);
  const throttled = await serve({ authThrottle: { maxFailures: 1 } });
  conforms('get', `${API_V1}/requests`, await throttled.send('GET', `${API_V1}/requests`, { token: 'wrong' }));
  const limited = await throttled.send('GET', `${API_V1}/requests`);
  assertRefused(limited, 'IPWATCH_AUTH_THROTTLED');
  assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
  conforms('get', `${API_V1}/requests`, limited);

  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const failing = await serve({ status: () => { throw new Error('SELECT secret FROM requests'); } });
    const failed = await failing.send('GET', `${API_V1}/status`);
    assertRefused(failed, 'IPWATCH_INTERNAL');
    conforms('get', `${API_V1}/status`, failed);
  } finally {
    stderr.mockRestore();
  }
}, 60_000);
