import { afterEach, beforeEach, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followFile, type FollowOptions, type FollowResult, type LineInfo } from './follow.ts';

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipwatch-follow-'));
  path = join(dir, 'access.log');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Polls `check` every 10 ms until it holds; fails with `what` after 3 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Seen {
  line: string;
  info: LineInfo;
}

/** Follows `path`, recording lines, until stop() is called. */
function startFollowing(options: Partial<FollowOptions> = {}) {
  const seen: Seen[] = [];
  const reopened: string[] = [];
  let caughtUp = 0;
  const controller = new AbortController();
  const done: Promise<FollowResult> = followFile(path, {
    follow: true,
    pollMs: 50,
    signal: controller.signal,
    onLine: (line, info) => {
      seen.push({ line, info });
    },
    onCaughtUp: () => {
      caughtUp++;
    },
    onReopen: (why) => reopened.push(why),
    ...options,
  });
  return {
    seen,
    reopened,
    lines: () => seen.map((s) => s.line),
    caughtUp: () => caughtUp,
    stop: async () => {
      controller.abort();
      return done;
    },
  };
}

test('without follow: every line to the end, the last one even without an end of line; CRLF, BOM, long lines', async () => {
  writeFileSync(path, Buffer.concat([Buffer.from('\ufeffone\r\n\ntwo\n'), Buffer.from('x'.repeat(100)), Buffer.from('\nbad '), Buffer.from([0xff, 0xfe]), Buffer.from('\nlast')]));
  const seen: Seen[] = [];
  let caughtUp = 0;
  const result = await followFile(path, { maxLineBytes: 50, onLine: (line, info) => void seen.push({ line, info }), onCaughtUp: () => void caughtUp++ });
  assert.deepEqual(
    seen.map((s) => [s.line, s.info.lineNumber, s.info.tooLong]),
    [
      ['one', 1, false],
      ['', 2, false],
      ['two', 3, false],
      ['x'.repeat(50), 4, true],
      ['bad \ufffd\ufffd', 5, false],
      ['last', 6, false],
    ],
  );
  assert.deepEqual(result, { lines: 6, rotations: 0, truncations: 0, unfinishedBytes: 0 });
  assert.equal(caughtUp, 1);
});

test('a line split over many reads, and a long line cut across reads', async () => {
  const long = 'L'.repeat(200_000);
  writeFileSync(path, `${long}\nshort\n${'M'.repeat(300_000)}\nend\n`);
  const seen: Seen[] = [];
  await followFile(path, { maxLineBytes: 250_000, onLine: (line, info) => void seen.push({ line, info }) });
  assert.deepEqual(
    seen.map((s) => [s.line.length, s.info.tooLong]),
    [
      [200_000, false],
      [5, false],
      [250_000, true],
      [3, false],
    ],
  );
  assert.equal(seen[0]!.line, long);
});

test('follow: lines appended are read as they come; a half-written line waits for its end; a stop reads what was written before it', async () => {
  writeFileSync(path, 'a\nb\n');
  const f = startFollowing();
  try {
    await until(() => f.lines().length === 2, 'the existing lines');
    assert.ok(f.caughtUp() >= 1);
    appendFileSync(path, 'c\nd');
    await until(() => f.lines().length === 3, 'the appended line');
    appendFileSync(path, 'e\n');
    await until(() => f.lines().length === 4, 'the finished line');
    assert.deepEqual(f.lines(), ['a', 'b', 'c', 'de']);
    // stopped right after a write: what was written before the stop is read, bar an unfinished line
    appendFileSync(path, 'f\nunfinished');
  } finally {
    const result = await f.stop();
    assert.deepEqual(f.lines(), ['a', 'b', 'c', 'de', 'f']);
    assert.equal(result.lines, 5);
    assert.equal(result.unfinishedBytes, 'unfinished'.length);
  }
});

test('follow: a rotation by rename; the old file is finished first, the new one read from its start', async () => {
  writeFileSync(path, 'old 1\n');
  const f = startFollowing();
  try {
    await until(() => f.lines().length === 1, 'the first line');
    renameSync(path, `${path}.1`);
    appendFileSync(`${path}.1`, 'old 2\nold 3 without end');
    // the renamed file is still read until a new one is there
    await until(() => f.lines().length === 2, 'a line written to the renamed file');
    writeFileSync(path, 'new 1\nnew 2\n');
    await until(() => f.lines().length === 5, 'the new file');
    appendFileSync(path, 'new 3\n');
    await until(() => f.lines().length === 6, 'a line appended to the new file');
    assert.deepEqual(f.lines(), ['old 1', 'old 2', 'old 3 without end', 'new 1', 'new 2', 'new 3']);
    assert.deepEqual(
      f.seen.map((s) => [s.info.file, s.info.lineNumber]),
      [
        [0, 1],
        [0, 2],
        [0, 3],
        [1, 1],
        [1, 2],
        [1, 3],
      ],
    );
    assert.deepEqual(f.reopened, ['rotated']);
  } finally {
    const result = await f.stop();
    assert.equal(result.rotations, 1);
  }
});

test('follow: copytruncate; the file emptied in place is read again from its start', async () => {
  writeFileSync(path, 'first line, a long one\nsecond line, a long one\n');
  const f = startFollowing();
  try {
    await until(() => f.lines().length === 2, 'the first lines');
    truncateSync(path, 0);
    appendFileSync(path, 'after\n');
    await until(() => f.lines().length === 3, 'the line after the truncation');
    appendFileSync(path, 'more\n');
    await until(() => f.lines().length === 4, 'a line appended after that');
    assert.deepEqual(f.lines().slice(2), ['after', 'more']);
    assert.deepEqual(f.seen[2]!.info, { lineNumber: 1, file: 1, tooLong: false });
    assert.deepEqual(f.reopened, ['truncated']);
  } finally {
    const result = await f.stop();
    assert.equal(result.truncations, 1);
  }
});

test('the stat poll alone (no fs.watch) finds appended lines, a rotation and a truncation', async () => {
  writeFileSync(path, '');
  const f = startFollowing({ pollMs: 20, watch: false });
  try {
    await until(() => f.caughtUp() >= 1, 'the first end of file');
    for (let i = 0; i < 3; i++) appendFileSync(path, `line ${i}\n`);
    await until(() => f.lines().length === 3, 'three lines');
    renameSync(path, `${path}.1`);
    writeFileSync(path, 'rotated\n');
    await until(() => f.lines().length === 4, 'the rotated file');
    truncateSync(path, 0);
    appendFileSync(path, 'cut\n');
    await until(() => f.lines().length === 5, 'the truncated file');
    assert.deepEqual(f.lines(), ['line 0', 'line 1', 'line 2', 'rotated', 'cut']);
    assert.deepEqual(f.reopened, ['rotated', 'truncated']);
  } finally {
    await f.stop();
  }
});

test('a stop while the backlog is read resolves at once, and an awaited onLine holds reading back', async () => {
  writeFileSync(path, 'a\nb\nc\n');
  const controller = new AbortController();
  const order: string[] = [];
  const started = Date.now();
  const result = await followFile(path, {
    follow: true,
    signal: controller.signal,
    onLine: async (line) => {
      order.push(`start ${line}`);
      await new Promise((r) => setTimeout(r, 5));
      order.push(`end ${line}`);
      if (line === 'b') controller.abort();
    },
  });
  assert.deepEqual(order, ['start a', 'end a', 'start b', 'end b']);
  assert.equal(result.lines, 2);
  assert.ok(Date.now() - started < 1000);
});

test('a file that is not there is an error at once', async () => {
  await assert.rejects(followFile(join(dir, 'missing.log'), { onLine: () => {} }), { code: 'ENOENT' });
});
