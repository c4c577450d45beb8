/**
 * Rendering: what an alert, a digest and a test say in each format, and that hostile evidence
 * (markup, Slack mentions and links, code fences, line breaks, a `javascript:` link) is inert
 * in every one: no live markup in the HTML (checked without a parser: every tag and attribute
 * in the document is one the renderer writes), nothing Slack would act on, plain data in JSON.
 */
import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import type { Alert, AlertSubject, Digest } from './alert.ts';
import { escapeHtml, humanDuration, LIST_MAX, oneLine, renderAlert, renderDigest, renderTest, slackEscape, type AlertPayload, type DigestPayload, type TestPayload } from './render.ts';

const TS = Date.UTC(2026, 11, 1, 10, 0, 0);
const H = 3_600_000;

const SUBJECT: AlertSubject = { client: '203.0.113.7', ip: '203.0.113.7', network: '203.0.113.0/24', country: 'FR', asn: 16276, org: 'OVH SAS' };

function alert(over: Partial<Alert> = {}): Alert {
  return {
    id: 'det-sensitive-files-203.0.113.7-1796119200000',
    kind: 'detection',
    ts: TS,
    rule: 'sensitive-files',
    severity: 'high',
    action: 'blocked',
    blockedUntil: TS + H,
    summary: 'matching requests: 2 in 10m (more than 1)',
    evidence: {
      summary: 'matching requests: 2 in 10m (more than 1)',
      figure: '2',
      trigger: 'GET /.env -> 404',
      samples: '10:00:00 GET /.git/config -> 404\n10:00:01 GET /.env -> 404',
      userAgents: 'Mozilla/5.0 (compatible; scanner/1.0)',
      statuses: '404x2',
      country: 'FR',
      asn: '16276',
      org: 'OVH SAS',
      offence: '1',
      action: 'blocked 203.0.113.7',
    },
    subjects: [SUBJECT],
    foldedBy: null,
    actor: 'scorer',
    url: 'https://dash.example.com/clients/203.0.113.7',
    ...over,
  };
}

/** Evidence an attacker chose: markup, attribute breakouts, Slack mentions and links, fences, line breaks, a header injection, a terminal escape. */
const HOSTILE = {
  trigger: 'GET /a\nAction: flagged (nothing to see) -> 404',
  samples: '10:00:00 GET /<script>alert(1)</script> -> 404\n10:00:01 GET /x?q="><img src=x onerror=alert(1)> -> 404\n10:00:02 GET /```\n<!channel> -> 404',
  userAgents: '<!channel> <@U123> <!here> <http://evil.example|click me> ``` `x` @channel',
  usernames: "admin'--\n<b>root</b>",
  statuses: '404x3\r\nBcc: evil@example.net',
  crawlerClaim: 'claims Googlebot, not verified: \u001b[31mred\u001b[0m \u202Egpj.exe',
  note: '</pre></td></tr></table><script>steal()</script>',
};

function hostile(over: Partial<Alert> = {}): Alert {
  return alert({
    evidence: { ...HOSTILE },
    subjects: [{ ...SUBJECT, org: 'Evil "Org" <img src=x onerror=alert(1)> <@U777>' }],
    summary: 'reason: <script>alert("s")</script> <!channel>',
    url: 'javascript:alert(document.cookie)',
    ...over,
  });
}

/** Every tag and attribute the renderer writes; anything else in the document came from data and is live markup. */
const TAGS = new Set(['!DOCTYPE', 'html', 'head', 'meta', 'title', 'body', 'table', 'tr', 'td', 'th', 'p', 'strong', 'pre', 'code', 'a']);
const ATTRIBUTES = new Set(['lang', 'charset', 'name', 'content', 'style', 'role', 'width', 'cellpadding', 'cellspacing', 'border', 'align', 'href', 'html']);

/** Checks, without a parser, that a document holds only the renderer's own markup; returns the hrefs. */
function assertOnlyOwnMarkup(html: string): string[] {
  const tags = html.match(/<[^>]*>/g) ?? [];
  assert.equal((html.match(/</g) ?? []).length, tags.length, 'every < starts a tag of ours (data is escaped)');
  const hrefs: string[] = [];
  for (const tag of tags) {
    const inner = tag.slice(1, -1).replace(/^\//, '');
    assert.equal((inner.match(/"/g) ?? []).length % 2, 0, `unbalanced quote in ${tag}`);
    assert.doesNotMatch(inner, /'/, `a single quote in ${tag}: attributes are double-quoted`);
    const values = [...inner.matchAll(/([a-zA-Z-]+)="([^"]*)"/g)];
    const bare = inner.replace(/"[^"]*"/g, '""').split(/\s+/).filter(Boolean);
    const name = bare[0] ?? '';
    assert.ok(TAGS.has(name), `a tag the renderer does not write: ${tag}`);
    for (const attr of bare.slice(1)) {
      const attrName = attr.replace(/=.*$/, '');
      assert.ok(ATTRIBUTES.has(attrName), `an attribute the renderer does not write: ${attrName} in ${tag}`);
    }
    for (const [, attrName, value] of values) {
      assert.doesNotMatch(value ?? '', /url\(|expression\(|javascript:|@import/i, `${attrName} of ${tag}`);
      if (attrName === 'href') hrefs.push(value ?? '');
    }
  }
  for (const href of hrefs) assert.match(href, /^https?:\/\//, `href ${href}`);
  assert.doesNotMatch(html, /<(script|img|link|iframe|object|embed|style|svg|form|input|base)\b/i);
  assert.doesNotMatch(tags.join(''), /\bsrc=|srcset=|url\(/i, 'no external resources');
  return hrefs;
}

/** Checks that Slack mrkdwn holds nothing Slack would act on but the link given, and that code spans and blocks are ours. */
function assertSlackInert(slack: string, links: string[]): void {
  const angled = slack.match(/<[^>]*>/g) ?? [];
  assert.deepEqual(angled, links, 'the only <...> are the links the renderer wrote');
  assert.equal((slack.match(/</g) ?? []).length, links.length);
  assert.equal((slack.match(/>/g) ?? []).length, links.length);
  let inBlock = false;
  for (const line of slack.split('\n')) {
    if (line === '```') {
      inBlock = !inBlock;
      continue;
    }
    assert.equal((line.match(/`/g) ?? []).length % 2, 0, `unpaired backtick: ${line}`);
    if (inBlock) assert.doesNotMatch(line, /`/, `a backtick inside a code block: ${line}`);
  }
  assert.equal(inBlock, false, 'every code block is closed');
  assert.doesNotMatch(slack, /@(channel|here|everyone|all|U\d)/, 'no plain mention Mattermost would ping');
}

describe('a hostile alert', () => {
  const r = renderAlert(hostile());

  test('HTML: the raw strings are shown escaped, none of them live; the javascript: link is dropped', () => {
    const hrefs = assertOnlyOwnMarkup(r.html);
    assert.deepEqual(hrefs, [], 'the javascript: dashboard link is not in the document');
    assert.doesNotMatch(r.html, /javascript/i);
    assert.match(r.html, /GET \/&lt;script&gt;alert\(1\)&lt;\/script&gt; -&gt; 404/);
    assert.match(r.html, /&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;/);
    assert.match(r.html, /&lt;\/pre&gt;&lt;\/td&gt;&lt;\/tr&gt;&lt;\/table&gt;&lt;script&gt;steal\(\)&lt;\/script&gt;/);
    assert.match(r.html, /Evil &quot;Org&quot; &lt;img src=x onerror=alert\(1\)&gt;/);
    assert.match(r.html, /admin&#39;--/);
    assert.match(r.html, /<title>\[ipwatch\] HIGH sensitive-files: 203\.0\.113\.7 \(FR\) blocked for 1h<\/title>/);
  });

  test('HTML and text: a line break in a one-line field shows as \\n, controls and bidi overrides as U+FFFD', () => {
    assert.match(r.text, /trigger: GET \/a\\nAction: flagged \(nothing to see\) -> 404/);
    assert.equal(r.text.split('\n').filter((l) => l.startsWith('Action:')).length, 1, 'the evidence forged no Action line');
    assert.match(r.text, /statuses: 404x3\\r\\nBcc: evil@example\.net/);
    assert.match(r.text, /not verified: \uFFFD\[31mred\uFFFD\[0m \uFFFDgpj\.exe/);
    assert.doesNotMatch(r.text, /[\u001b\u202E\r]/);
    assert.doesNotMatch(r.html, /[\u001b\u202E\r]/);
    // Multi-line evidence keeps its lines, each indented under its label.
    assert.match(r.text, /\n {4}10:00:01 GET \/x\?q="><img src=x onerror=alert\(1\)> -> 404\n/);
  });

  test('Slack: no mention, no link, no code span broken out of; evidence in code spans and blocks', () => {
    assertSlackInert(r.slack, []);
    assert.match(r.slack, /&lt;!channel&gt; &lt;@\u2060U123&gt; &lt;!here&gt; &lt;http:\/\/evil\.example\|click me&gt; \u02CB\u02CB\u02CB \u02CBx\u02CB @\u2060channel/);
    assert.match(r.slack, /```\n10:00:00 GET \/&lt;script&gt;alert\(1\)&lt;\/script&gt; -&gt; 404\n/);
    assert.match(r.slack, /\*Summary:\* reason: &lt;script&gt;alert\("s"\)&lt;\/script&gt; &lt;!channel&gt;/);
    assert.match(r.slack, /\*AS:\* `AS16276 Evil "Org" &lt;img src=x onerror=alert\(1\)&gt; &lt;@\u2060U777&gt;`/);
    assert.doesNotMatch(r.slack, /javascript/);
  });

  test('JSON: plain data, the raw strings verbatim after a round trip; no link that is not http(s)', () => {
    const payload = JSON.parse(JSON.stringify(r.json)) as AlertPayload;
    assert.deepEqual(payload.evidence, HOSTILE);
    assert.equal(payload.summary, 'reason: <script>alert("s")</script> <!channel>');
    assert.equal(payload.subjects[0]?.org, 'Evil "Org" <img src=x onerror=alert(1)> <@U777>');
    assert.equal(payload.url, null);
    assert.doesNotMatch(JSON.stringify(r.json), /&lt;|&amp;|&quot;|\u02CB|\u2060/, 'nothing pre-escaped');
  });

  test('subjects are one line, whatever the rule or client holds', () => {
    const odd = renderAlert(hostile({ rule: 'custom\r\nBcc: evil@example.net', subjects: [{ ...SUBJECT, client: '203.0.113.7\n\u0007x' }] }));
    assert.doesNotMatch(odd.subject, /[\r\n\u0000-\u001f\u007f]/);
    assert.match(odd.subject, /^\[ipwatch\] HIGH custom Bcc: evil@example\.net: /);
    assert.doesNotMatch(r.subject, /[\r\n]/);
    const long = renderAlert(alert({ rule: 'r'.repeat(400) }));
    assert.ok(Array.from(long.subject).length <= 200, `subject of ${long.subject.length}`);
    assert.match(long.subject, /…$/);
  });

  test('a hostile http(s) dashboard link is escaped in the href and kept inside the Slack link', () => {
    const odd = renderAlert(alert({ url: 'https://dash.example.com/clients/1.2.3.4?x="><script>|y' }));
    const hrefs = assertOnlyOwnMarkup(odd.html);
    assert.deepEqual(hrefs, ['https://dash.example.com/clients/1.2.3.4?x=%22%3E%3Cscript%3E%7Cy']);
    assertSlackInert(odd.slack, ['<https://dash.example.com/clients/1.2.3.4?x=%22%3E%3Cscript%3E%7Cy|Open 203.0.113.7 in the dashboard>']);
  });
});

describe('what an alert says', () => {
  test('a blocked client: who, network and country, AS, rule, severity, until when, evidence, when, the link', () => {
    const r = renderAlert(alert());
    assert.equal(r.subject, '[ipwatch] HIGH sensitive-files: 203.0.113.7 (FR) blocked for 1h');
    for (const line of [
      'Client:   203.0.113.7',
      'Network:  203.0.113.0/24 (FR)',
      'AS:       AS16276 OVH SAS',
      'Rule:     sensitive-files',
      'Severity: high',
      'Action:   blocked until 2026-12-01T11:00:00Z (for 1h)',
      'Summary:  matching requests: 2 in 10m (more than 1)',
      'When:     2026-12-01T10:00:00Z',
      '  trigger: GET /.env -> 404',
      '    10:00:00 GET /.git/config -> 404',
      '  user agents:',
      '  statuses: 404x2',
      'Open 203.0.113.7 in the dashboard: https://dash.example.com/clients/203.0.113.7',
    ]) {
      assert.ok(r.text.split('\n').includes(line), `the text part lacks the line ${JSON.stringify(line)}:\n${r.text}`);
    }
    assert.deepEqual(assertOnlyOwnMarkup(r.html), ['https://dash.example.com/clients/203.0.113.7']);
    assert.match(r.html, /blocked until 2026-12-01T11:00:00Z \(for 1h\)/);
    assertSlackInert(r.slack, ['<https://dash.example.com/clients/203.0.113.7|Open 203.0.113.7 in the dashboard>']);
    const json = r.json as unknown as AlertPayload;
    assert.equal(json.type, 'alert');
    assert.equal(json.version, 1);
    assert.equal(json.ts, '2026-12-01T10:00:00.000Z');
    assert.equal(json.blockedUntil, '2026-12-01T11:00:00.000Z');
    assert.equal(json.action, 'blocked');
    assert.equal(json.severity, 'high');
    assert.equal(json.rule, 'sensitive-files');
    assert.deepEqual(json.subjects, [SUBJECT]);
    assert.equal(json.foldedBy, null);
    assert.equal(json.url, 'https://dash.example.com/clients/203.0.113.7');
  });

  test('what was done: flagged, blocked permanently, a repeat offence, a dry run', () => {
    assert.equal(renderAlert(alert({ action: 'flagged', blockedUntil: null, severity: 'low', rule: 'hourly-volume' })).subject, '[ipwatch] LOW hourly-volume: 203.0.113.7 (FR) flagged');
    const forGood = renderAlert(alert({ blockedUntil: null, kind: 'block', rule: 'manual', actor: 'ops', severity: 'critical' }));
    assert.equal(forGood.subject, '[ipwatch] CRITICAL manual: 203.0.113.7 (FR) blocked permanently');
    assert.match(forGood.text, /\nBy: +ops\n/);
    const fourth = renderAlert(alert({ blockedUntil: TS + 7 * 24 * H, evidence: { ...alert().evidence, offence: '4' } }));
    assert.match(fourth.text, /Action: +blocked until 2026-12-08T10:00:00Z \(for 7d; offence 4\)/);
    const dry = renderAlert(alert({ action: 'dry-run', evidence: { ...alert().evidence, action: 'dry run (records; would block 1h, then 4h)' } }));
    assert.equal(dry.subject, '[ipwatch] HIGH sensitive-files: 203.0.113.7 (FR) dry run: would have blocked');
    assert.match(dry.text, /Action: +dry run: would have blocked for 1h; the rule is in dry run: nothing was done/);
    const dryLadder = renderAlert(alert({ action: 'dry-run', blockedUntil: null, evidence: { action: 'dry run (records; would block 1h, then 4h)' } }));
    assert.match(dryLadder.text, /Action: +dry run: would have blocked \(block 1h, then 4h\); the rule is in dry run: nothing was done/);
    const dryFlag = renderAlert(alert({ action: 'dry-run', blockedUntil: null, evidence: { action: 'dry run (records; would flag)' } }));
    assert.match(dryFlag.subject, /dry run: would have flagged$/);
  });

  test('an IPv6 client scored by its /64, with unknown country and AS', () => {
    const r = renderAlert(alert({ subjects: [{ client: '2001:db8:1:2::/64', ip: '2001:db8:1:2::5', network: '2001:db8:1::/48', country: '', asn: null, org: '' }], evidence: { trigger: 'GET / -> 200', scoredAs: 'network 2001:db8:1:2::/64' } }));
    assert.equal(r.subject, '[ipwatch] HIGH sensitive-files: 2001:db8:1:2::/64 blocked for 1h');
    assert.match(r.text, /Client: +2001:db8:1:2::\/64 \(request from 2001:db8:1:2::5\)/);
    assert.match(r.text, /Network: +2001:db8:1::\/48 \(country unknown\)/);
    assert.match(r.text, /AS: +unknown/);
    assert.match(r.text, /scored as: network 2001:db8:1:2::\/64/);
  });

  test(`a folded alert lists the first ${LIST_MAX} addresses and counts the rest; JSON lists all`, () => {
    const subjects = Array.from({ length: 120 }, (_, i) => ({ ...SUBJECT, client: `203.0.113.${i + 1}`, ip: `203.0.113.${i + 1}` }));
    const r = renderAlert(alert({ rule: 'path-scan', subjects, foldedBy: { by: 'network', value: '203.0.113.0/24' } }));
    assert.equal(r.subject, '[ipwatch] HIGH path-scan: 120 addresses of network 203.0.113.0/24 (FR) blocked for 1h');
    assert.match(r.text, /Clients: +120 addresses, folded by network 203\.0\.113\.0\/24/);
    assert.match(r.text, /\nEvidence \(of 203\.0\.113\.1, the first\):\n/);
    for (const out of [r.text, r.html, r.slack]) {
      assert.ok(out.includes('203.0.113.50'), 'the 50th is listed');
      assert.ok(!out.includes('203.0.113.51 '), 'the 51st is not');
      assert.ok(!/203\.0\.113\.51\b/.test(out), 'the 51st is not');
      assert.match(out, /\.\.\. and 70 more/);
    }
    assert.ok(r.html.includes('folded by network 203.0.113.0/24'));
    assertOnlyOwnMarkup(r.html);
    assertSlackInert(r.slack, ['<https://dash.example.com/clients/203.0.113.7|Open 203.0.113.1 in the dashboard>']);
    const json = r.json as unknown as AlertPayload;
    assert.equal(json.subjects.length, 120);
    assert.deepEqual(json.foldedBy, { by: 'network', value: '203.0.113.0/24' });

    const byAsn = renderAlert(alert({ subjects: subjects.slice(0, 3).map((s, i) => ({ ...s, country: ['FR', 'DE', 'NL'][i] as string })), foldedBy: { by: 'asn', value: '16276' } }));
    assert.equal(byAsn.subject, '[ipwatch] HIGH sensitive-files: 3 addresses of ASN AS16276 blocked for 1h');
    assert.doesNotMatch(byAsn.text, /and \d+ more/);
  });
});

function digest(n: number): Digest {
  const alerts = Array.from({ length: n }, (_, i) =>
    alert({ id: `a${i}`, ts: TS + i * 1000, rule: i % 3 === 0 ? 'burst' : 'path-scan', severity: i === 5 ? 'critical' : 'high', subjects: [{ ...SUBJECT, client: `198.51.100.${i}`, ip: `198.51.100.${i}` }], url: `https://dash.example.com/clients/198.51.100.${i}` }),
  );
  return { id: 'digest-1', ts: TS + n * 1000, severity: 'critical', alerts, limit: '10 alerts a minute', url: 'https://dash.example.com/' };
}

describe('a digest', () => {
  test('says how many were folded, by rule and severity, lists them, links to the detections', () => {
    const r = renderDigest(digest(37));
    assert.equal(r.subject, '[ipwatch] digest: 37 alerts folded (10 alerts a minute exceeded)');
    assert.match(r.text, /More than 10 alerts a minute: 37 alerts were folded into this digest\./);
    assert.match(r.text, /By rule: +path-scan 24, burst 13/);
    assert.match(r.text, /By severity: +critical 1, high 36/);
    assert.match(r.text, /198\.51\.100\.36/);
    assert.doesNotMatch(r.text, /and \d+ more/);
    assert.match(r.text, /Detections in the dashboard: https:\/\/dash\.example\.com\/detections/);
    assert.deepEqual(assertOnlyOwnMarkup(r.html), ['https://dash.example.com/detections']);
    assertSlackInert(r.slack, ['<https://dash.example.com/detections|Detections in the dashboard>']);
    const json = r.json as unknown as DigestPayload;
    assert.equal(json.type, 'digest');
    assert.equal(json.folded, 37);
    assert.equal(json.limit, '10 alerts a minute');
    assert.equal(json.severity, 'critical');
    assert.equal(json.alerts.length, 37);
    assert.deepEqual(json.alerts[1], { id: 'a1', rule: 'path-scan', severity: 'high', client: '198.51.100.1', addresses: 1, summary: 'matching requests: 2 in 10m (more than 1)', action: 'blocked', url: 'https://dash.example.com/clients/198.51.100.1' });
  });

  test(`beyond ${LIST_MAX} alerts: the first ${LIST_MAX} listed and the rest counted (JSON: all); hostile summaries inert`, () => {
    const d = digest(130);
    d.alerts[0] = { ...(d.alerts[0] as Alert), summary: '<script>x</script> <!channel> ```', rule: 'r\nforged line' };
    const r = renderDigest(d);
    assert.equal(r.subject, '[ipwatch] digest: 130 alerts folded (10 alerts a minute exceeded)');
    for (const out of [r.text, r.html, r.slack]) {
      assert.match(out, /198\.51\.100\.49\b/);
      assert.doesNotMatch(out, /198\.51\.100\.50\b/);
      assert.match(out, /\.\.\. and 80 more/);
    }
    assertOnlyOwnMarkup(r.html);
    assertSlackInert(r.slack, ['<https://dash.example.com/detections|Detections in the dashboard>']);
    assert.ok(!r.text.split('\n').includes('forged line'));
    assert.equal((r.json as unknown as DigestPayload).alerts.length, 130);
    assert.equal((r.json as unknown as DigestPayload).alerts[0]?.summary, '<script>x</script> <!channel> ```');
  });
});

describe('a test alert', () => {
  test('says it is a test, through which channel, from which host', () => {
    const r = renderTest({ ts: TS, channel: 'webhook', url: 'https://dash.example.com' });
    assert.equal(r.subject, oneLine(`[ipwatch] test alert via webhook from ${hostname()}`, 200));
    assert.match(r.text, /This is a test alert from ipwatch on .* sent through the webhook channel at 2026-12-01T10:00:00Z\. No client was detected and nothing was blocked/);
    assertOnlyOwnMarkup(r.html);
    assertSlackInert(r.slack, ['<https://dash.example.com/|Open the dashboard>']);
    const json = r.json as unknown as TestPayload;
    assert.equal(json.type, 'test');
    assert.equal(json.version, 1);
    assert.equal(json.channel, 'webhook');
    assert.equal(json.host, hostname());
    assert.equal(json.ts, '2026-12-01T10:00:00.000Z');
  });
});

describe('helpers', () => {
  test('escapeHtml escapes the five characters that matter in content and quoted attributes', () => {
    assert.equal(escapeHtml(`<a href="x" onclick='y'>&amp;</a>`), '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
  });

  test('slackEscape: entities for & < >, no backtick, no plain mention', () => {
    assert.equal(slackEscape('a & b <!channel> <@U1> <http://x|y>'), 'a &amp; b &lt;!channel&gt; &lt;@\u2060U1&gt; &lt;http://x|y&gt;');
    assert.equal(slackEscape('```x``` `y`'), '\u02CB\u02CB\u02CBx\u02CB\u02CB\u02CB \u02CBy\u02CB');
    assert.equal(slackEscape('@here ann@example.com @ x'), '@\u2060here ann@\u2060example.com @ x');
  });

  test('oneLine: breaks become spaces, controls go, long text is cut with … (never mid surrogate pair)', () => {
    assert.equal(oneLine('a\r\nb\tc\u2028d\u0000e\u001b[1m', 100), 'a b c de[1m');
    assert.equal(oneLine('  lots   of    space ', 100), 'lots of space');
    assert.equal(oneLine('abcdef', 4), 'abc…');
    assert.equal(oneLine('abcd', 4), 'abcd');
    assert.equal(oneLine('😀😀😀😀😀', 3), '😀😀…');
  });

  test('humanDuration: at most two units', () => {
    assert.equal(humanDuration(H), '1h');
    assert.equal(humanDuration(90 * 60_000), '1h 30m');
    assert.equal(humanDuration(7 * 24 * H), '7d');
    assert.equal(humanDuration(24 * H + 5_000), '1d');
    assert.equal(humanDuration(45_000), '45s');
  });
});
