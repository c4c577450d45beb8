/**
 * The blocks and allowlist pages on chDB and the in-process event log: add and remove
 * through the list changes, time left and who, expired entries behind a toggle, the history,
 * hostile reasons as text, refused input shown with its message.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { startManageApp } from './manageTestApp.ts';

const XSS = '<script>alert(1)</script>';
const XSS2 = '"><img src=x onerror=alert(1)>';

test('add a block on /blocks: listed with time left, reason and who; the history has it; remove it', async () => {
  const app = await startManageApp();
  const added = await app.post('/blocks/add', { target: '203.0.113.0/24', reason: XSS, expires: '+7d', until: '', severity: 'critical' });
  assert.equal(added.status, 303, added.text);
  assert.equal(added.location, '/blocks?done=blocked');
  assert.equal(app.view.get('blocks', '203.0.113.0/24')?.createdBy, 'local');
  assert.equal((await app.post('/blocks/add', { target: '203.0.113.9', reason: XSS2, expires: 'never' })).status, 303);

  const page = await app.get('/blocks?done=blocked');
  assert.equal(page.status, 200);
  assert.match(page.text, /Blocked: every app instance refuses it/);
  assert.match(page.text, /<td class="num">(7d 0h|6d 23h)<\/td>/, 'the time left');
  assert.match(page.text, /<td class="num">never<\/td>/);
  assert.ok(page.text.includes('href="/clients/203.0.113.9"'), 'an address links to its client page');
  assert.ok(page.text.includes('href="/requests?ip=203.0.113.0%2F24"'), 'a range links to the log filtered by it');
  assert.match(page.text, /<td class="sev-critical">critical<\/td>/);
  assert.ok(!page.text.includes(XSS) && !page.text.includes(XSS2), 'reasons are text');
  assert.ok(page.text.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.match(page.text, /<h2>History[\s\S]*<td>block<\/td><td><a class="addr" href="\/clients\/203\.0\.113\.9">/, 'the history lists the block');

  const removed = await app.post('/blocks/remove', { target: '203.0.113.9' });
  assert.equal(removed.status, 303);
  assert.equal(app.view.get('blocks', '203.0.113.9'), undefined);
  assert.match((await app.get('/blocks')).text, /<td>unblock<\/td><td><a class="addr" href="\/clients\/203\.0\.113\.9">/);
  assert.equal((await app.post('/blocks/remove', { target: '203.0.113.0/24' })).status, 303);
});

test('the allowlist: add, see, remove; expired entries only with the toggle', async () => {
  const app = await startManageApp();
  assert.equal((await app.post('/allowlist/add', { target: '192.0.2.10', reason: 'monitoring', expires: '+1h' })).status, 303);
  const page = await app.get('/allowlist');
  assert.match(page.text, /<a class="addr" href="\/clients\/192\.0\.2\.10">192\.0\.2\.10<\/a>/);
  assert.match(page.text, /<td class="num">(59m \d+s|1h 0m)<\/td>/);
  assert.match(page.text, /<td class="text">monitoring<\/td><td>local<\/td>/);
  assert.match(page.text, /Show expired \(0\)/);
  assert.equal((await app.post('/allowlist/remove', { target: '192.0.2.10' })).status, 303);
  assert.equal(app.view.get('allow', '192.0.2.10'), undefined);
  assert.match((await app.get('/allowlist')).text, /Nothing is allowlisted now/);
  assert.equal((await app.get('/allowlist?expired=1')).status, 200);
});

test('bad input is a page with the message (400), never a 500', async () => {
  const app = await startManageApp();
  const bad = await app.post('/blocks/add', { target: XSS, expires: '+1h' });
  assert.equal(bad.status, 400);
  assert.match(bad.text, /is not an IP address or CIDR/);
  assert.ok(!bad.text.includes(XSS));
  const expiry = await app.post('/allowlist/add', { target: '192.0.2.11', expires: 'tomorrow' });
  assert.equal(expiry.status, 400);
  assert.match(expiry.text, /expiry &quot;tomorrow&quot; is not understood/);
  const missing = await app.post('/allowlist/remove', { target: '192.0.2.12' });
  assert.equal(missing.status, 404);
  assert.match(missing.text, /192\.0\.2\.12 is not on the allowlist/);
  const toggle = await app.get('/blocks?expired=yes');
  assert.equal(toggle.status, 400);
  assert.match(toggle.text, /expired &quot;yes&quot; must be 1/);
  assert.equal((await app.get('/blocks?sort=1')).status, 400);
});

test('a sweeping block is refused with the message unless "I mean it" is ticked', async () => {
  const app = await startManageApp();
  const refused = await app.post('/blocks/add', { target: '10.0.0.0/8', expires: '+1h' });
  assert.equal(refused.status, 400);
  assert.match(refused.text, /refused: 10\.0\.0\.0\/8 is a \/8, wider than the \/16/);
  assert.equal(app.view.get('blocks', '10.0.0.0/8'), undefined);
  assert.equal((await app.post('/blocks/add', { target: '10.0.0.0/8', expires: '+1h', force: '1' })).status, 303);
  assert.ok(app.view.get('blocks', '10.0.0.0/8'));
  assert.equal((await app.post('/allowlist/add', { target: '64.0.0.0/2', expires: '+1h' })).status, 400);
  assert.equal((await app.post('/allowlist/add', { target: '64.0.0.0/2', expires: '+1h', force: '1' })).status, 303);
});
