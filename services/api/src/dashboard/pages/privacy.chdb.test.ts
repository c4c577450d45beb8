/**
 * The privacy pages on chDB with the real privacy service and a signed-in session: the export
 * downloaded holds the rows ClickHouse has; an erasure through the confirmation and the form
 * removes them (others' rows untouched) and reports what stays; a post without the form token,
 * without a session or from another site is refused and erases nothing; signed out, the page
 * sends to the sign-in; a hostile user id is text everywhere; a range too wide asks for "I mean
 * it"; an unknown address is "nothing is stored"; a block in force is offered to be lifted; an
 * erasure stopped half-way is listed and finished from the page.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import type { PrivacyExport } from '@ipwatch/store';
import { countRows, startPrivacyApp, storeClient } from './privacyTestApp.ts';
import { startManageApp } from './manageTestApp.ts';

const XSS = '<script>alert(1)</script>';
const XSS_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;';

test('signed out: the page sends to the sign-in, and a post is refused without erasing anything', async () => {
  const app = await startPrivacyApp();
  const ip = '198.51.100.151';
  await storeClient(app.analytics, ip, 'privacy-page-a');
  const anon = app.signedOut();
  const page = await anon.get('/privacy');
  assert.equal(page.status, 303);
  assert.equal(page.location, '/login?next=%2Fprivacy');
  const erase = await anon.post('/privacy/erase/confirmed', { kind: 'ip', subject: ip, csrf: 'x' });
  assert.equal(erase.status, 401);
  assert.match(erase.text, /sign in first/);
  const exported = await anon.post('/privacy/export', { kind: 'ip', subject: ip, format: 'json' });
  assert.equal(exported.status, 401);
  assert.deepEqual(await countRows(app.analytics, ip), { requests: 5, detections: 1 });
});

test('the export downloads every row stored about the address, as JSON and as CSV, and the audit log says so', async () => {
  const app = await startPrivacyApp();
  const ip = '198.51.100.152';
  await storeClient(app.analytics, ip, 'privacy-page-b', { count: 7 });
  const s = await app.signIn();
  const csrf = await s.csrf();
  const json = await s.post('/privacy/export', { csrf, kind: 'ip', subject: ip, format: 'json' });
  assert.equal(json.status, 200, json.text);
  assert.match(json.type ?? '', /^application\/json/);
  assert.match(json.disposition ?? '', /^attachment; filename="ipwatch-export-[0-9a-f-]{36}\.json"$/);
  const e = JSON.parse(json.text) as PrivacyExport;
  assert.equal(e.subject, ip);
  assert.ok(json.disposition?.includes(e.auditId), 'named by its audit entry');
  const stored = await countRows(app.analytics, ip);
  assert.deepEqual(stored, { requests: 7, detections: 1 });
  const requests = e.tables.find((t) => t.table === 'requests')!;
  assert.equal(requests.rows.length, stored.requests);
  assert.deepEqual(requests.rows.map((r) => r.event_id).sort(), Array.from({ length: 7 }, (_, i) => `privacy-page-b-${i}`).sort());
  assert.equal(e.tables.find((t) => t.table === 'detections')!.rows.length, stored.detections);
  assert.ok(requests.fields.path, 'each field says what it means');
  // The detection's block is in the block history too (a view of the detections table).
  assert.equal(e.total, 7 + 1 + 1);

  const csv = await s.post('/privacy/export', { csrf, kind: 'ip', subject: ip, format: 'csv' });
  assert.equal(csv.status, 200);
  assert.match(csv.type ?? '', /^text\/csv/);
  assert.match(csv.disposition ?? '', /\.csv"$/);
  const eventLines = csv.text.split('\n').filter((l) => l.startsWith('requests,') && l.includes(',event_id,privacy-page-b-'));
  assert.equal(eventLines.length, 7);

  const page = await s.get('/privacy');
  assert.equal(page.status, 200);
  assert.match(page.text, /<td>export<\/td><td>ip<\/td><td class="num">\/32<\/td><td class="outcome-completed">completed<\/td><td class="num">9<\/td><td class="text">requests 7 · detections 1 · block_events 1<\/td>/);
  assert.ok(!page.text.includes(ip), 'the audit log holds no address');
  assert.match(page.text, /<a href="\/privacy" class="active" aria-current="page">Privacy<\/a>/, 'linked from the navigation');
});

test('erase through the confirmation: the rows go, another client\'s stay, the report says what was removed and what stays', async () => {
  const app = await startPrivacyApp();
  const ip = '198.51.100.153';
  const other = '198.51.100.154';
  await storeClient(app.analytics, ip, 'privacy-page-c');
  await storeClient(app.analytics, other, 'privacy-page-c-other');
  const s = await app.signIn();

  const client = await s.get(`/clients/${ip}`);
  assert.match(client.text, /<h2>Privacy<\/h2>/);
  assert.match(client.text, /Export everything stored about 198\.51\.100\.153<\/button>/);
  assert.match(client.text, /<form method="post" action="\/privacy\/erase" [^>]*><input type="hidden" name="csrf" value="[^"]+"><input type="hidden" name="kind" value="ip"><input type="hidden" name="subject" value="198\.51\.100\.153"><button type="submit" class="danger">Erase 198\.51\.100\.153…<\/button>/);
  const csrf = /name="csrf" value="([^"]+)"/.exec(client.text)![1]!;

  const confirm = await s.post('/privacy/erase', { csrf, kind: 'ip', subject: ip });
  assert.equal(confirm.status, 200, confirm.text);
  assert.match(confirm.text, /<h1>Erase 198\.51\.100\.153\?<\/h1>/);
  assert.match(confirm.text, /<td>requests<\/td><td class="text muted">[^<]*<\/td><td class="num">5<\/td>/);
  assert.match(confirm.text, /<td>detections<\/td><td class="text muted">[^<]*<\/td><td class="num">1<\/td>/);
  assert.match(confirm.text, /action="\/privacy\/erase\/confirmed"/);
  assert.deepEqual(await countRows(app.analytics, ip), { requests: 5, detections: 1 }, 'asking removes nothing');

  const done = await s.post('/privacy/erase/confirmed', { csrf, kind: 'ip', subject: ip });
  assert.equal(done.status, 200, done.text);
  assert.match(done.text, /<h1>Erased 198\.51\.100\.153<\/h1>/);
  assert.match(done.text, /<td>requests<\/td><td class="num">5<\/td>/);
  assert.match(done.text, /<td>detections<\/td><td class="num">1<\/td>/);
  assert.match(done.text, /rollup buckets rebuilt<\/div><div class="value">[1-9]/);
  assert.match(done.text, /<h2 id="remaining">What could not be removed now<\/h2>[\s\S]*the in-process event log[\s\S]*they age out with the topics/);
  assert.deepEqual(await countRows(app.analytics, ip), { requests: 0, detections: 0 });
  assert.deepEqual(await countRows(app.analytics, other), { requests: 5, detections: 1 }, 'another client is untouched');

  const audit = await s.get('/privacy');
  assert.match(audit.text, /<td>erase<\/td><td>ip<\/td><td class="num">\/32<\/td><td class="outcome-completed">completed<\/td>/);
  assert.match(audit.text, /<td>ops<\/td><td>erase<\/td>/, 'who: the signed-in token\'s name');
  assert.match(audit.text, /every erasure started has completed/);

  const again = await s.post('/privacy/erase/confirmed', { csrf, kind: 'ip', subject: ip });
  assert.equal(again.status, 200);
  assert.match(again.text, /<h1>Nothing is stored about 198\.51\.100\.153<\/h1>/, 'a second erasure finds nothing: not an error');
});

test('a post without the form token, with another session\'s, or from another site is refused and erases nothing', async () => {
  const app = await startPrivacyApp();
  const ip = '198.51.100.155';
  await storeClient(app.analytics, ip, 'privacy-page-d');
  const s = await app.signIn();
  const mine = await s.csrf();
  const theirs = await (await app.signIn()).csrf();
  const erasures = async () => (await app.privacy.audit({ action: 'erase', limit: 10_000 })).length;
  const before = await erasures();
  assert.notEqual(mine, theirs, 'a token per session');

  const forms: Array<Record<string, string>> = [{ kind: 'ip', subject: ip }, { kind: 'ip', subject: ip, csrf: '' }, { kind: 'ip', subject: ip, csrf: theirs }, { kind: 'ip', subject: ip, csrf: `${mine.slice(0, -1)}${mine.endsWith('x') ? 'y' : 'x'}` }];
  for (const form of forms) {
    const res = await s.post('/privacy/erase/confirmed', form);
    assert.equal(res.status, 403, JSON.stringify(form));
    assert.match(res.text, /the form came without this session&#39;s token/);
  }
  assert.equal((await s.post('/privacy/export', { kind: 'ip', subject: ip, format: 'json' })).status, 403);
  const cross = await s.post('/privacy/erase/confirmed', { csrf: mine, kind: 'ip', subject: ip }, { 'sec-fetch-site': 'cross-site' });
  assert.equal(cross.status, 403);
  assert.deepEqual(await countRows(app.analytics, ip), { requests: 5, detections: 1 });
  assert.equal(await erasures(), before, 'no erasure recorded');
});

test('a hostile user id is text on the confirmation, the report and the form; the export has it as it was', async () => {
  const app = await startPrivacyApp();
  const ip = '198.51.100.156';
  await storeClient(app.analytics, ip, 'privacy-page-e', { user: XSS });
  const s = await app.signIn();
  const csrf = await s.csrf();
  const confirm = await s.post('/privacy/erase', { csrf, kind: 'user', subject: XSS });
  assert.equal(confirm.status, 200, confirm.text);
  assert.ok(!confirm.text.includes(XSS), 'escaped on the confirmation');
  assert.ok(confirm.text.includes(`<h1>Erase user ${XSS_ESCAPED}?</h1>`));
  assert.ok(confirm.text.includes(`name="subject" value="${XSS_ESCAPED}"`));
  assert.match(confirm.text, /<td>requests<\/td><td class="text muted">[^<]*<\/td><td class="num">5<\/td>/);

  const exported = JSON.parse((await s.post('/privacy/export', { csrf, kind: 'user', subject: XSS, format: 'json' })).text) as PrivacyExport;
  assert.equal(exported.subject, XSS);
  assert.equal(exported.tables.find((t) => t.table === 'requests')!.rows.length, 5);

  const done = await s.post('/privacy/erase/confirmed', { csrf, kind: 'user', subject: XSS });
  assert.equal(done.status, 200);
  assert.ok(!done.text.includes(XSS), 'escaped on the report');
  assert.ok(done.text.includes(`<h1>Erased user ${XSS_ESCAPED}</h1>`));
  const left = await (await app.analytics.client.query({ query: 'SELECT count() AS n FROM requests WHERE user_id = {u:String} OR login_user = {u:String}', query_params: { u: XSS }, format: 'JSONEachRow' })).json<{ n: string }>();
  assert.equal(Number(left[0]!.n), 0);

  const tooLong = await s.post('/privacy/erase', { csrf, kind: 'user', subject: `${XSS}${'x'.repeat(700)}` });
  assert.equal(tooLong.status, 400);
  assert.ok(!tooLong.text.includes(XSS));
  assert.match(tooLong.text, /has at most 600/);
});

test('a range wider than the maximum asks for "I mean it"; an unknown address is "nothing is stored", not an error', async () => {
  const app = await startPrivacyApp();
  const s = await app.signIn();
  const csrf = await s.csrf();
  const wide = await s.post('/privacy/erase', { csrf, kind: 'ip', subject: '10.0.0.0/8' });
  assert.equal(wide.status, 400);
  assert.match(wide.text, /class="flash error" role="status">10\.0\.0\.0\/8 is a \/8, wider than the \/24[^<]*tick &quot;I mean it&quot; beside the range and submit again\./);
  assert.match(wide.text, /name="subject" required maxlength="600" value="10\.0\.0\.0\/8"/, 'the form keeps what was typed');
  const forced = await s.post('/privacy/erase', { csrf, kind: 'ip', subject: '10.0.0.0/8', force: '1' });
  assert.equal(forced.status, 200);
  assert.match(forced.text, /<h1>Erase 10\.0\.0\.0\/8\?<\/h1>/);
  assert.match(forced.text, /<input type="hidden" name="force" value="1">/, 'the confirmation keeps the force');

  const unknown = await s.post('/privacy/erase/confirmed', { csrf, kind: 'ip', subject: '192.0.2.250' });
  assert.equal(unknown.status, 200);
  assert.match(unknown.text, /<h1>Nothing is stored about 192\.0\.2\.250<\/h1>/);
  assert.match(unknown.text, /Nothing is stored about <span class="addr subject">192\.0\.2\.250<\/span>/);
  const bad = await s.post('/privacy/export', { csrf, kind: 'ip', subject: XSS, format: 'json' });
  assert.equal(bad.status, 400);
  assert.ok(!bad.text.includes(XSS));
  assert.match((await s.post('/privacy/erase', { csrf, kind: 'ip', subject: ' ' })).text, /say whom it is about/);
});

test('a block in force stays after the erasure, with a button lifting it through the blocks page', async () => {
  const app = await startPrivacyApp();
  const ip = '198.51.100.157';
  await storeClient(app.analytics, ip, 'privacy-page-f');
  await app.changes.block({ target: '198.51.100.157', reason: XSS, expires: '+1h', severity: 'high' }, { name: 'ops', mayUseRuleSources: false });
  assert.ok(await app.view.waitFor('blocks', ip, (r) => r !== undefined, 5000));
  const s = await app.signIn();
  const csrf = await s.csrf();
  const confirm = await s.post('/privacy/erase', { csrf, kind: 'ip', subject: ip });
  assert.match(confirm.text, /These list entries cover it and stay after the erasure/);
  const done = await s.post('/privacy/erase/confirmed', { csrf, kind: 'ip', subject: ip });
  assert.equal(done.status, 200);
  assert.match(done.text, /<td>the block list<\/td><td class="text">the block of 198\.51\.100\.157 \(&lt;script&gt;[\s\S]*?<form method="post" action="\/blocks\/remove" class="inline"><input type="hidden" name="target" value="198\.51\.100\.157"><button type="submit" class="primary">Unblock 198\.51\.100\.157<\/button>/);
  assert.ok(!done.text.includes(XSS));
  const lifted = await s.post('/blocks/remove', { target: ip });
  assert.equal(lifted.status, 303);
  assert.equal(app.view.get('blocks', ip), undefined);
});

test('an erasure stopped half-way is listed with its subject and finished from the page', async () => {
  const app = await startPrivacyApp();
  const ip = '198.51.100.158';
  await storeClient(app.analytics, ip, 'privacy-page-g');
  await assert.rejects(app.privacy.erase({ ip }, 'ops', { crashAfter: 'delete:requests' }), /injected/);
  const s = await app.signIn();
  const page = await s.get('/privacy');
  assert.match(page.text, /<td>ops<\/td><td class="text"><span class="addr subject">198\.51\.100\.158<\/span><\/td>[\s\S]*?<input type="hidden" name="subject" value="198\.51\.100\.158"><input type="hidden" name="force" value="1"><button type="submit" class="danger">Finish the erasure<\/button>/);
  assert.match(page.text, /<td class="outcome-started">started<\/td>/);
  const csrf = await s.csrf();
  const done = await s.post('/privacy/erase/confirmed', { csrf, kind: 'ip', subject: ip, force: '1' });
  assert.equal(done.status, 200, done.text);
  assert.match(done.text, /This run finished an erasure that had stopped half-way/);
  assert.deepEqual(await countRows(app.analytics, ip), { requests: 0, detections: 0 });
  assert.equal((await app.privacy.pending()).filter((p) => p.subject === `ip:${ip}`).length, 0);
});

test('without the privacy service the page says so (503) and the client page offers no buttons', async () => {
  const app = await startManageApp();
  const page = await app.get('/privacy');
  assert.equal(page.status, 503);
  assert.match(page.text, /This api runs without the privacy service/);
  const client = await app.get('/clients/198.51.100.159');
  assert.equal(client.status, 200);
  assert.match(client.text, /<h2>Privacy<\/h2><p class="muted">This api runs without the privacy service/);
  assert.ok(!client.text.includes('action="/privacy/erase"'));
});
