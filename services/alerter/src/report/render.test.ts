/** The daily report's renderings: hostile stored strings escaped in HTML and Slack, plain in JSON; bars are tables; changes in words. */
import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import type { DailyReport, Figure } from '@ipwatch/store';
import { changeLong, changeShort, formatDailyReport, percent, renderDailyReport, reportSubject } from './render.ts';

const H = 3_600_000;
const D = Date.parse('2015-05-17T00:00:00Z');
const HOSTILE_PATH = '/<script>alert(1)</script>?a=1&b="x"';
const HOSTILE_ORG = '<img src=x onerror=alert(1)> <!channel> <@U123> <http://evil.example|click> `code` @here';
const fig = (value: number, previous: number): Figure => ({ value, previous, change: previous === 0 ? null : (value - previous) / previous });

function report(): DailyReport {
  return {
    date: '2015-05-17',
    timeZone: 'UTC',
    range: { date: '2015-05-17', since: D, until: D + 24 * H, hours: 24 },
    previousRange: { date: '2015-05-16', since: D - 24 * H, until: D, hours: 24 },
    generatedAt: D + 30 * H,
    top: 10,
    totals: {
      requests: fig(10_000, 9_615),
      uniqueClients: fig(300, 300),
      serverErrors: fig(12, 0),
      serverErrorRate: { value: 0.0012, previous: 0, change: null },
      clientErrors: fig(400, 500),
      clientErrorRate: { value: 0.04, previous: 0.052, change: (0.04 - 0.052) / 0.052 },
      blocked: fig(3, 1),
      rateLimited: fig(0, 0),
      detections: fig(5, 2),
      blocksMade: fig(3, 1),
      blocksLifted: fig(1, 0),
      rateLimitRefusals: fig(7, 0),
    },
    hourly: Array.from({ length: 24 }, (_, i) => ({ start: D + i * H, label: `${String(i).padStart(2, '0')}:00`, requests: i === 10 ? 800 : 400, errors: i === 10 ? 400 : 0 })),
    topClients: [{ ip: '83.149.9.216', requests: 800, previous: 400, change: 1, errors: 10, country: 'RU', asn: 12389, org: HOSTILE_ORG }],
    topPaths: [
      { path: '/index.html', requests: 900, previous: 1000, change: -0.1, errors: 0, clients: 100 },
      { path: HOSTILE_PATH, requests: 300, previous: 0, change: null, errors: 300, clients: 1 },
    ],
    topCountries: [{ country: 'US', requests: 5000, previous: 5000, change: 0, clients: 150 }],
    topNetworks: {
      asns: [{ asn: 16276, org: HOSTILE_ORG, requests: 1000, previous: 900, change: 1 / 9, clients: 5 }],
      prefixes: [{ network: '83.149.9.0/24', requests: 800, previous: 400, change: 1, clients: 1, country: 'RU', asn: 12389, org: 'Rostelecom' }],
    },
    detections: {
      total: fig(5, 2),
      byRule: [{ rule: 'path-scan', severity: 'high', detections: 5, previous: 2, change: 1.5, blocked: 3, dryRun: 0, clients: 3 }],
      bySeverity: [{ severity: 'high', detections: 5, previous: 2, change: 1.5 }],
    },
    blocks: {
      made: fig(3, 1),
      madeByKind: { rule: fig(3, 0), manual: fig(0, 1), import: fig(0, 0) },
      bySource: [{ source: 'path-scan', kind: 'rule', blocks: 3, previous: 0, change: null }],
      lifted: fig(1, 0),
      unblocked: fig(1, 0),
      expired: fig(0, 0),
    },
    rateLimits: { refusals: fig(7, 0), byRule: [{ rule: 'login', refusals: 7, previous: 0, change: null, events: 2, clients: 1 }] },
  };
}

describe('daily report rendering', () => {
  test('changes and shares in words', () => {
    assert.equal(changeShort(fig(112, 100)), '+12%');
    assert.equal(changeShort(fig(97, 100)), '-3%');
    assert.equal(changeShort(fig(100, 100)), '±0%');
    assert.equal(changeShort(fig(1004, 1000)), '+0.4%');
    assert.equal(changeShort(fig(5, 0)), 'new');
    assert.equal(changeShort(fig(0, 0)), '');
    assert.equal(changeShort(fig(25_000, 100)), '+24,900%');
    assert.equal(changeLong(fig(112, 100)), '+12% vs day before');
    assert.equal(changeLong(fig(5, 0)), 'new (none the day before)');
    assert.equal(changeLong(fig(0, 0)), 'none either day');
    assert.equal(changeLong(fig(0, 4)), '-100% vs day before');
    assert.equal(percent(0.0412), '4.1%');
    assert.equal(percent(null), '—');
  });

  test('the subject: requests with their change, blocks made', () => {
    assert.equal(reportSubject(report()), '[ipwatch] daily report 2015-05-17: 10,000 requests (+4%), 3 blocks');
    const one = { ...report(), timeZone: 'Europe/Paris' };
    one.totals = { ...one.totals, blocksMade: fig(1, 0), requests: fig(5, 0) };
    assert.equal(reportSubject(one), '[ipwatch] daily report 2015-05-17 (Europe/Paris): 5 requests, 1 block');
  });

  test('text: aligned columns, "vs day before", hostile text on one line', () => {
    const { text } = renderDailyReport(report(), { url: 'https://dash.example.com/' });
    assert.match(text, /^Requests: +10,000 {3}\+4% vs day before$/m);
    assert.match(text, /^Unique clients: +300 {3}±0% vs day before$/m);
    assert.match(text, /^Server errors \(5xx\): +12 \(0\.1%\) {3}new \(none the day before\)$/m);
    assert.match(text, /^Rate-limited requests: +0 {3}none either day$/m);
    assert.match(text, /^Blocks made: +3 \(3 by rules, 0 manual, 0 imported\) {3}\+200% vs day before$/m);
    // Columns line up: "requests" right-aligned under its header.
    const lines = text.split('\n');
    const head = lines.findIndex((l) => l === 'Top paths');
    const header = lines[head + 1]!;
    const row = lines[head + 2]!;
    assert.equal(row.indexOf('900') + 3, header.indexOf('requests') + 'requests'.length);
    assert.match(text, /^ {2}10:00 {2}800 {2}#{20}={20}$/m);
    assert.match(text, /^ {2}11:00 {2}400 {2}={20}$/m);
    assert.ok(text.includes('Dashboard: https://dash.example.com/'));
    const withBreak = report();
    withBreak.topPaths[0]!.path = '/a\nForged: line\u001b[31m';
    assert.ok(!formatDailyReport(withBreak, 'text').includes('\nForged'));
    assert.ok(!formatDailyReport(withBreak, 'text').includes('\u001b'));
  });

  test('HTML: a whole document, no scripts or external resources, hostile strings escaped, bars as table cells', () => {
    const { html } = renderDailyReport(report(), { url: 'https://dash.example.com/?a=1&b=2' });
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /<\/html>\n$/);
    assert.ok(!/<script|onerror=|<img|<!channel|<@U|<http:\/\/evil/i.test(html.replace(/&lt;[^&]*?&gt;/g, '')), 'no markup from the data');
    assert.ok(!html.includes('<script'));
    assert.ok(!html.includes('<img'));
    assert.ok(html.includes('/&lt;script&gt;alert(1)&lt;/script&gt;?a=1&amp;b=&quot;x&quot;'));
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
    assert.ok(!/\bsrc="|\bhref="(?!https:\/\/dash\.example\.com\/\?a=1&amp;b=2")|<link|<style|url\(/i.test(html), 'no external resources, one link');
    // The 10:00 hour: the busiest (100% wide), half of it errors (red), half answered (blue).
    assert.ok(html.includes('<td width="50%" style="width:50%;background:#cf222e;height:10px;font-size:1px;line-height:1px;">&nbsp;</td><td width="50%" style="width:50%;background:#0969da;'));
    // Other hours: half as wide, the rest of the row empty.
    assert.ok(html.includes('<td width="50%" style="width:50%;background:#0969da;height:10px;font-size:1px;line-height:1px;">&nbsp;</td><td width="50%" style="width:50%;font-size:1px;line-height:1px;">&nbsp;</td>'));
    assert.equal((html.match(/background:#0969da;height:10px/g) ?? []).length >= 24, true);
    assert.ok(html.includes('+4% vs day before'));
    const noLink = renderDailyReport(report(), { url: 'javascript:alert(1)' });
    assert.ok(!noLink.html.includes('javascript:'));
    assert.equal(noLink.json.url, null);
  });

  test('Slack: &, <, > escaped, no forged mentions or links, backticks cannot close a code span', () => {
    const { slack } = renderDailyReport(report(), { url: 'https://dash.example.com/' });
    assert.ok(!/<!channel>|<@U123>|<http:\/\/evil/.test(slack));
    assert.ok(slack.includes('&lt;!channel&gt;'));
    assert.ok(slack.includes('`/&lt;script&gt;alert(1)&lt;/script&gt;?a=1&amp;b="x"`'));
    assert.ok(!slack.includes('`code`'));
    assert.ok(!slack.includes('@here'));
    const mention = report();
    mention.topPaths[0]!.path = '/@here';
    assert.ok(renderDailyReport(mention, { url: '' }).slack.includes('`/@\u2060here`'));
    assert.match(slack, /\*Requests:\* 10,000 \(\+4%\)/);
    assert.ok(slack.endsWith('<https://dash.example.com/|Open the dashboard>'));
    // The only < in the message is the dashboard link's.
    assert.equal((slack.match(/</g) ?? []).length, 1);
  });

  test('JSON: the report as plain data, typed, with the link', () => {
    const r = report();
    const { json } = renderDailyReport(r, { url: 'https://dash.example.com/' });
    assert.equal(json.type, 'daily-report');
    assert.equal(json.version, 1);
    assert.equal(json.url, 'https://dash.example.com/');
    assert.deepEqual(json.topPaths, r.topPaths);
    assert.equal((json.topPaths as Array<{ path: string }>)[1]!.path, HOSTILE_PATH);
    assert.deepEqual(JSON.parse(formatDailyReport(r, 'json')), r);
    assert.match(formatDailyReport(r, 'html'), /^<!DOCTYPE html>/);
  });
});
