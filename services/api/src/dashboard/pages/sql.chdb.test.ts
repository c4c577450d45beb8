/**
 * The SQL page on chDB with the real SQL service and a signed-in session: the cookbook listed
 * and put in the form by ?example=; a query posted runs and shows its rows with their types, a
 * time series with its chart data; attacker-chosen text in a result is escaped; a query that
 * writes is refused on the form (the query kept) and writes nothing; a limit stops a query with
 * its variable named; a post without the form token is refused (403) and runs nothing; signed
 * out, the page sends to the sign-in; without the service, the page says so (503).
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { COOKBOOK } from '@ipwatch/store';
import { countRows, LIMITS, startSqlApp, storeRequests } from './sqlTestApp.ts';

const XSS = '<script>alert(1)</script>';
const XSS_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;';

/** What the page's textarea holds, unescaped. */
function textarea(page: string): string {
  const m = /<textarea[^>]*name="sql"[^>]*>([\s\S]*?)<\/textarea>/.exec(page);
  assert.ok(m, 'the page has the query form');
  return m[1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#96;/g, '`').replace(/&amp;/g, '&');
}

const flash = (page: string) => /<p class="flash error" role="alert">([\s\S]*?)<\/p>/.exec(page)?.[1] ?? null;

test('the page lists the cookbook, the limits and the tables; ?example= puts an entry in the form', async () => {
  const app = await startSqlApp();
  const s = await app.signIn();
  const page = await s.get('/sql');
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /<a href="\/sql" class="active" aria-current="page">SQL<\/a>/, 'linked from the navigation');
  for (const e of COOKBOOK) {
    assert.ok(page.text.includes(`<a href="/sql?example=${e.id}">`), `the cookbook links ${e.id}`);
    assert.ok(page.text.includes(e.title.replace(/'/g, '&#39;')), e.title);
  }
  assert.equal(textarea(page.text), '', 'the form starts empty');
  assert.match(page.text, /<form method="post" action="\/sql"/, 'the query is posted, never put in a URL');
  assert.match(page.text, /more than <b>100,000 rows<\/b> \(IPWATCH_SQL_MAX_ROWS_READ\)/);
  assert.match(page.text, /return more than <b>5,000 rows<\/b> \(IPWATCH_SQL_MAX_RESULT_ROWS\)/);
  assert.match(page.text, /run longer than <b>20 seconds<\/b> \(IPWATCH_SQL_MAX_SECONDS\)/);
  assert.match(page.text, /docs\/TABLES\.md/);
  assert.match(page.text, /<dt><code>requests<\/code><\/dt><dd>[^<]*<code title="[^"]+">/, 'the tables with their columns');

  const entry = COOKBOOK.find((e) => e.id === 'client-per-minute')!;
  const filled = await s.get(`/sql?example=${entry.id}`);
  assert.equal(filled.status, 200);
  assert.equal(textarea(filled.text), entry.sql);
  assert.match(filled.text, /<aside class="cookbook"><details open><summary>/, 'the cookbook open without a result');
  assert.match(filled.text, /<li class="chosen"><a href="\/sql\?example=client-per-minute" aria-current="true">/);
  assert.doesNotMatch(filled.text, /class="sql-result"/, 'choosing an entry does not run it');

  const unknown = await s.get('/sql?example=nope');
  assert.equal(unknown.status, 404);
  assert.match(flash(unknown.text) ?? '', /no entry &quot;nope&quot;: pick one from the list/);
  const typo = await s.get('/sql?examples=top-error-clients');
  assert.equal(typo.status, 400);
  assert.match(flash(typo.text) ?? '', /does not take the parameter &quot;examples&quot; \(did you mean example\?\)/);
});

test('a query posted runs and shows its rows with their types, numbers right-aligned, what it read and the audit entry', async () => {
  const app = await startSqlApp();
  await storeRequests(app.analytics, '203.0.113.41', 'sql-page-a', ['/a', '/b', '/c', '/d', '/e', '/f']);
  const s = await app.signIn();
  const csrf = await s.csrf();
  const query = "SELECT path, status, count() AS n FROM requests WHERE ip = toIPv6('::ffff:203.0.113.41') GROUP BY path, status ORDER BY path";
  const page = await s.post('/sql', { csrf, sql: query });
  assert.equal(page.status, 200, page.text);
  assert.equal(textarea(page.text), query, 'the query stays in the form');
  assert.match(page.text, /<th class="">path<span class="type">String<\/span><\/th><th class="num">status<span class="type">UInt16<\/span><\/th><th class="num">n<span class="type">UInt64<\/span><\/th>/);
  const rows = [...page.text.matchAll(/<tr><td class="text">(\/[a-f])<\/td><td class="num">(\d+)<\/td><td class="num">(\d+)<\/td><\/tr>/g)].map((m) => [m[1], m[2], m[3]]);
  assert.deepEqual(rows, [['/a', '200', '1'], ['/b', '200', '1'], ['/c', '404', '1'], ['/d', '200', '1'], ['/e', '200', '1'], ['/f', '404', '1']]);
  const stats = /<p class="sql-stats"><b>6 rows<\/b>, read ([\d,]+) rows? \([\d,]+ bytes\) in ([\d,]+) ms · audit entry <span class="addr">([0-9a-f-]{36})<\/span><\/p>/.exec(page.text);
  assert.ok(stats, 'rows, rows read, time and the audit entry');
  assert.ok(Number(stats[1]!.replace(/,/g, '')) >= 6);
  assert.doesNotMatch(page.text, /data-chart=/, 'not a time series: no chart');
  assert.match(page.text, /<aside class="cookbook"><details><summary>/, 'the cookbook folded under a result');

  // The audit log has the query, under the signed-in name.
  const audit = await (await app.analytics.client.query({ query: 'SELECT actor, action, outcome, note FROM privacy_audit WHERE id = {id:String}', query_params: { id: stats[3] }, format: 'JSONEachRow' })).json<{ actor: string; action: string; outcome: string; note: string }>();
  assert.deepEqual(audit.map((a) => [a.actor, a.action, a.outcome, a.note]), [['analyst', 'query', 'completed', query]]);
});

test('a time series (whatever the query) has a chart: one line per numeric column, in time order', async () => {
  const app = await startSqlApp();
  await storeRequests(app.analytics, '203.0.113.42', 'sql-page-b', ['/1', '/2', '/3', '/4', '/5', '/6']);
  const s = await app.signIn();
  const csrf = await s.csrf();
  const page = await s.post('/sql', {
    csrf,
    sql: "SELECT toStartOfMinute(ts) AS minute, count() AS requests, 'x' AS label, countIf(status = 404) AS not_found FROM requests WHERE ip = toIPv6('::ffff:203.0.113.42') GROUP BY minute ORDER BY minute DESC",
  });
  assert.equal(page.status, 200, page.text);
  const m = /<div class="chart" data-chart="([^"]+)">/.exec(page.text);
  assert.ok(m, 'a chart');
  const chart = JSON.parse(m[1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&')) as { x: number[]; series: { label: string; values: number[] }[] };
  assert.equal(chart.x.length, 6);
  assert.deepEqual([...chart.x].sort((a, b) => a - b), chart.x, 'ascending although the query sorted descending');
  assert.ok(chart.x.every((t, i) => i === 0 || t - chart.x[i - 1]! === 60), 'a minute apart');
  assert.ok(Math.abs(chart.x[5]! * 1000 - (Date.now() - 60_000)) < 120_000, 'the last a minute ago: read as UTC');
  assert.deepEqual(chart.series.map((x) => x.label), ['requests', 'not_found'], 'numeric columns only');
  assert.deepEqual(chart.series[0]!.values, [1, 1, 1, 1, 1, 1]);
  assert.deepEqual(chart.series[1]!.values, [0, 0, 1, 0, 0, 1]);

  // The first column not a time: no chart.
  const notTime = await s.post('/sql', { csrf, sql: "SELECT toString(toStartOfMinute(ts)) AS minute, count() AS n FROM requests WHERE ip = toIPv6('::ffff:203.0.113.42') GROUP BY minute" });
  assert.equal(notTime.status, 200);
  assert.doesNotMatch(notTime.text, /data-chart=/);
});

test('attacker-chosen text in a result is text: escaped in cells and titles, long cells cut', async () => {
  const app = await startSqlApp();
  const long = `/${'a'.repeat(300)}${XSS}`;
  await storeRequests(app.analytics, '203.0.113.43', 'sql-page-c', [`/search?q=${XSS}`, long, '/"><img src=x onerror=alert(2)>'], `${XSS} bot`);
  const s = await app.signIn();
  const csrf = await s.csrf();
  const page = await s.post('/sql', { csrf, sql: `SELECT path, user_agent AS "<b>ua</b>" FROM requests WHERE ip = toIPv6('::ffff:203.0.113.43') ORDER BY kafka_offset` });
  assert.equal(page.status, 200, page.text);
  assert.ok(!page.text.includes(XSS), 'no raw script tag anywhere');
  assert.ok(!page.text.includes('<img src=x'), 'no raw img tag');
  assert.ok(!page.text.includes('<b>ua</b>'), 'a column name is text too');
  assert.ok(page.text.includes(`<td class="text">/search?q=${XSS_ESCAPED}</td>`));
  assert.ok(page.text.includes(`<td class="text">${XSS_ESCAPED} bot</td>`));
  assert.ok(page.text.includes('<td class="text">/&quot;&gt;&lt;img src=x onerror=alert(2)&gt;</td>'));
  assert.ok(page.text.includes('&lt;b&gt;ua&lt;/b&gt;<span class="type">String</span>'));
  // The long path: 160 characters shown, the whole in the title, escaped.
  assert.ok(page.text.includes(`<td class="text cut" title="/${'a'.repeat(300)}${XSS_ESCAPED}">/${'a'.repeat(159)}<span class="more">… (${long.length} characters)</span></td>`));
  // A query with hostile text is kept in the form as text.
  assert.equal(textarea(page.text), `SELECT path, user_agent AS "<b>ua</b>" FROM requests WHERE ip = toIPv6('::ffff:203.0.113.43') ORDER BY kafka_offset`);
});

test('a query that writes is refused on the form with the query kept, and writes nothing; so are table functions reaching files', async () => {
  const app = await startSqlApp();
  await storeRequests(app.analytics, '203.0.113.44', 'sql-page-d', ['/x']);
  const s = await app.signIn();
  const csrf = await s.csrf();
  const [requests, blocks] = [await countRows(app.analytics, 'requests'), await countRows(app.analytics, 'block_events')];
  const insert = "INSERT INTO block_events (ts, target, action, source) VALUES (now(), '203.0.113.44', 'block', 'manual')";
  const page = await s.post('/sql', { csrf, sql: insert });
  assert.equal(page.status, 403);
  assert.match(flash(page.text) ?? '', /^refused: ipwatch sql runs queries read-only \(ClickHouse readonly=1\)/);
  assert.equal(textarea(page.text), insert, 'the query stays in the form to fix');
  assert.match(page.text, /<h1>SQL<\/h1>/, 'the page with its form, not an error page');
  assert.doesNotMatch(page.text, /class="sql-result"/);
  const file = await s.post('/sql', { csrf, sql: "SELECT * FROM file('/etc/passwd', 'LineAsString')" });
  assert.equal(file.status, 403);
  const drop = await s.post('/sql', { csrf, sql: 'DROP TABLE requests' });
  assert.equal(drop.status, 403);
  assert.equal(await countRows(app.analytics, 'requests'), requests);
  assert.equal(await countRows(app.analytics, 'block_events'), blocks);

  // Not valid SQL: 400 with ClickHouse's words; empty: 400 saying what to give.
  const bad = await s.post('/sql', { csrf, sql: 'SELEC 1' });
  assert.equal(bad.status, 400);
  assert.match(flash(bad.text) ?? '', /^ClickHouse could not run the query: .*Syntax error/);
  const empty = await s.post('/sql', { csrf, sql: '  ' });
  assert.equal(empty.status, 400);
  assert.match(flash(empty.text) ?? '', /give a query/);
});

test('a query over a limit stops with the limit and its variable named, on the form', async () => {
  const app = await startSqlApp();
  const s = await app.signIn();
  const csrf = await s.csrf();
  const page = await s.post('/sql', { csrf, sql: 'SELECT sum(number) FROM numbers(10000000)' });
  assert.equal(page.status, 422);
  assert.match(flash(page.text) ?? '', new RegExp(`^stopped: the query would read more than ${LIMITS.maxRowsRead.toLocaleString('en-US')} rows \\(IPWATCH_SQL_MAX_ROWS_READ\\)\\. Narrow it`));
  assert.equal(textarea(page.text), 'SELECT sum(number) FROM numbers(10000000)');
  const rows = await s.post('/sql', { csrf, sql: 'SELECT number FROM numbers(6000)' });
  assert.equal(rows.status, 422);
  assert.match(flash(rows.text) ?? '', /more than 5,000 rows \(IPWATCH_SQL_MAX_RESULT_ROWS\)/);
  // Under the limits, the next query answers.
  const ok = await s.post('/sql', { csrf, sql: 'SELECT number AS n FROM numbers(1200)' });
  assert.equal(ok.status, 200);
  assert.match(ok.text, /<b>1,200 rows<\/b>/);
  assert.equal(ok.text.match(/<tr><td class="num">\d+<\/td><\/tr>/g)?.length, 1000, 'the first 1,000 shown');
  assert.match(ok.text, /The first 1,000 rows are shown: add a LIMIT/);
});

test('a post without the form token, or with another session\'s, is refused (403) and runs nothing', async () => {
  const app = await startSqlApp();
  const s = await app.signIn();
  const other = await app.signIn();
  const query = "SELECT 'ran' AS marker";
  const none = await s.post('/sql', { sql: query });
  assert.equal(none.status, 403);
  assert.match(none.text, /without this session&#39;s token/);
  assert.doesNotMatch(none.text, /ran/);
  const wrong = await s.post('/sql', { csrf: await other.csrf(), sql: query });
  assert.equal(wrong.status, 403);
  const crossSite = await s.post('/sql', { csrf: await s.csrf(), sql: query }, { 'sec-fetch-site': 'cross-site' });
  assert.equal(crossSite.status, 403);
  const audit = await (await app.analytics.client.query({ query: "SELECT count() AS n FROM privacy_audit WHERE action = 'query' AND note LIKE '%marker%'", format: 'JSONEachRow' })).json<{ n: string }>();
  assert.equal(Number(audit[0]!.n), 0, 'nothing ran, nothing recorded');
  // With the token, it runs.
  const ran = await s.post('/sql', { csrf: await s.csrf(), sql: query });
  assert.equal(ran.status, 200);
  assert.match(ran.text, /<td class="text">ran<\/td>/);
});

test('signed out: the page sends to the sign-in, and a post is refused', async () => {
  const app = await startSqlApp();
  const anon = app.signedOut();
  const page = await anon.get('/sql?example=top-error-clients');
  assert.equal(page.status, 303);
  assert.equal(page.location, '/login?next=%2Fsql%3Fexample%3Dtop-error-clients');
  const post = await anon.post('/sql', { csrf: 'x', sql: 'SELECT 1' });
  assert.equal(post.status, 401);
  assert.match(post.text, /sign in first/);
});

test('without the SQL service the page says so (503); a post is still refused without the form token', async () => {
  const app = await startSqlApp({ withSql: false });
  const s = await app.signIn();
  const page = await s.get('/sql');
  assert.equal(page.status, 503);
  assert.match(page.text, /This api runs without the SQL service/);
  assert.doesNotMatch(page.text, /<textarea/, 'no form that cannot work');
  const post = await s.post('/sql', { sql: 'SELECT 1' });
  assert.equal(post.status, 403);
});

test('a query longer than the other forms take is accepted; one over the SQL form\'s limit is refused with a page saying so', async () => {
  const app = await startSqlApp();
  const s = await app.signIn();
  const csrf = await s.csrf();
  // 40,000 characters (more than the 32 kB of the other forms): a long IN list.
  const list = Array.from({ length: 5000 }, (_, i) => String(100000 + i)).join(', ');
  const long = `SELECT count() AS n FROM numbers(90000) WHERE number IN (${list})`;
  assert.ok(long.length > 32 * 1024);
  const page = await s.post('/sql', { csrf, sql: long });
  assert.equal(page.status, 200, flash(page.text) ?? page.text.slice(0, 300));
  assert.match(page.text, /<td class="num">0<\/td>/);
  const huge = await s.post('/sql', { csrf, sql: `SELECT '${'x'.repeat(500_000)}'` });
  assert.equal(huge.status, 413);
  assert.match(huge.text, /larger than the dashboard takes \(400kb\)/);
});
