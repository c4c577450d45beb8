/**
 * Reads a log file line by line and, when asked, keeps following it like `tail -F`: lines
 * appended are read as they come; the file renamed away and a new one created at the path
 * (logrotate's default) is noticed, the old descriptor read to its end first, then the new
 * file from its start; a file that shrinks (logrotate's copytruncate) is read again from its
 * start. fs.watch on the directory wakes the reader early; a stat every `pollMs` is the
 * fallback, since fs.watch misses events on some file systems (NFS, some containers).
 *
 * Lines are decoded as UTF-8, bytes that are not UTF-8 becoming U+FFFD (as readline does), so
 * the text is always valid; the parsers' sanitisers bound it and replace control characters.
 * A line longer than `maxLineBytes` is cut there and flagged, so one hostile line cannot fill
 * the memory.
 *
 * Limits, as for `tail -F`: lines a writer still appends to the renamed file after the new one
 * was opened are not read, and a truncation followed by more than the old length of writes
 * within one poll looks like growth.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface LineInfo {
  /** The line's number within its file (from 1). */
  lineNumber: number;
  /** Which file: 0 the one first opened, one more after each rotation or truncation. */
  file: number;
  /** The line was longer than maxLineBytes: the text is its start only. */
  tooLong: boolean;
}

export interface FollowOptions {
  /** Each line (without its end of line), in order; a returned promise is awaited before the next. */
  onLine: (line: string, info: LineInfo) => void | Promise<void>;
  /** Called whenever the reader has read everything there is (once at the end without `follow`). */
  onCaughtUp?: () => void | Promise<void>;
  /** Rotation and truncation, as they are noticed (for a message). */
  onReopen?: (why: 'rotated' | 'truncated') => void;
  /**
   * Stops following: the lines written so far are read, then followFile resolves. While the
   * file's first contents are read (the backlog), it stops between lines at once.
   */
  signal?: AbortSignal;
  /** Keep following after the end of the file (default false: read to the end and resolve). */
  follow?: boolean;
  /** How often the file is stat'ed while following (default 250 ms). */
  pollMs?: number;
  /** Also wake on fs.watch events (default true); false: the stat poll alone. */
  watch?: boolean;
  /** Longest line kept whole (default 256 KiB). */
  maxLineBytes?: number;
}

export interface FollowResult {
  /** Lines handed to onLine. */
  lines: number;
  rotations: number;
  truncations: number;
  /** Bytes of a last line with no end of line yet, left unread when following stopped. */
  unfinishedBytes: number;
}

const READ_SIZE = 64 * 1024;
const BOM = '\ufeff';

/**
 * Reads `path` to its end, and with `follow` keeps reading what is appended until `signal`
 * aborts.
 *
 * @example
 * const stop = new AbortController();
 * await followFile('/var/log/nginx/access.log', { follow: true, signal: stop.signal, onLine: (line) => handle(line) });
 */
export async function followFile(path: string, options: FollowOptions): Promise<FollowResult> {
  const { onLine, onCaughtUp, onReopen, signal } = options;
  const splitter = new LineSplitter(options.maxLineBytes ?? 256 * 1024);
  const result: FollowResult = { lines: 0, rotations: 0, truncations: 0, unfinishedBytes: 0 };
  const buf = Buffer.allocUnsafe(READ_SIZE);
  let fh: FileHandle = await open(path, 'r');
  let identity = await fh.stat();
  let position = 0;
  let file = 0;
  let lineNumber = 0;
  let unreported = false;

  const emit = async (text: string, tooLong: boolean) => {
    lineNumber++;
    result.lines++;
    unreported = true;
    const line = lineNumber === 1 && text.startsWith(BOM) ? text.slice(BOM.length) : text;
    const pending = onLine(line, { lineNumber, file, tooLong });
    if (pending) await pending;
  };
  /**
   * Reads the open file from `position` to its end. The first read (the backlog, perhaps a
   * large file) stops between lines when asked to; later ones read what was appended since the
   * last look, so they finish, and a stop keeps every line that was written before it.
   */
  let stoppable = true;
  const drain = async () => {
    while (!(stoppable && signal?.aborted)) {
      const { bytesRead } = await fh.read(buf, 0, READ_SIZE, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      for (const l of splitter.push(buf.subarray(0, bytesRead))) {
        if (stoppable && signal?.aborted) return; // stopping during the backlog: the rest is left unread
        await emit(l.text, l.tooLong);
      }
    }
  };
  /** The file will not grow any more: its last line counts even without an end of line. */
  const finishFile = async () => {
    const last = splitter.take();
    if (last) await emit(last.text, last.tooLong);
  };
  const caughtUp = async () => {
    if (!onCaughtUp) return;
    unreported = false;
    await onCaughtUp();
  };

  const waker = options.follow ? createWaker(path, options.pollMs ?? 250, options.watch ?? true, signal) : null;
  try {
    await drain();
    if (!waker) {
      if (!signal?.aborted) await finishFile();
      await caughtUp();
      return result;
    }
    if (signal?.aborted) return result;
    stoppable = false;
    await caughtUp();
    while (!signal?.aborted) {
      await waker.wait();
      if (signal?.aborted) break;
      if ((await fh.stat()).size < position) {
        // copytruncate: the file was emptied in place; what was half-read belonged to the old text
        splitter.take();
        position = 0;
        file++;
        lineNumber = 0;
        result.truncations++;
        onReopen?.('truncated');
      }
      await drain();
      const atPath = await stat(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null; // renamed away, the new one not there yet: keep reading the old
        throw err;
      });
      if (atPath && !signal?.aborted && (atPath.ino !== identity.ino || atPath.dev !== identity.dev)) {
        const next = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return null; // gone again: the next poll looks again
          throw err;
        });
        if (next) {
          await drain(); // the old descriptor's last lines first
          await finishFile();
          await fh.close();
          fh = next;
          identity = await fh.stat();
          position = 0;
          file++;
          lineNumber = 0;
          result.rotations++;
          onReopen?.('rotated');
          await drain();
        }
      }
      if (unreported && !signal?.aborted) await caughtUp();
    }
    // stopped: what was written to the file up to now is read too
    await drain();
    if (unreported) await caughtUp();
    result.unfinishedBytes = splitter.pendingBytes;
    return result;
  } finally {
    waker?.close();
    await fh.close();
  }
}

/** Splits bytes into lines, each cut at `max` bytes; '\r\n' ends a line like '\n'. */
class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private tooLong = false;
  constructor(private readonly max: number) {}

  get pendingBytes(): number {
    return this.size;
  }

  *push(chunk: Buffer): Generator<{ text: string; tooLong: boolean }> {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) {
        this.keep(chunk.subarray(start));
        return;
      }
      if (this.size === 0 && !this.tooLong && nl - start <= this.max) {
        // the common case: the whole line is in this chunk, decoded without a copy
        yield { text: stripCr(chunk.toString('utf8', start, nl)), tooLong: false };
      } else {
        this.keep(chunk.subarray(start, nl));
        yield this.take()!;
      }
      start = nl + 1;
    }
  }

  /** The line gathered so far (null when there is none), and a fresh start. */
  take(): { text: string; tooLong: boolean } | null {
    if (this.size === 0 && !this.tooLong) return null;
    const line = { text: stripCr(Buffer.concat(this.parts, this.size).toString('utf8')), tooLong: this.tooLong };
    this.parts = [];
    this.size = 0;
    this.tooLong = false;
    return line;
  }

  private keep(piece: Buffer): void {
    if (this.tooLong || piece.length === 0) return;
    const room = this.max - this.size;
    if (piece.length > room) {
      this.tooLong = true;
      piece = piece.subarray(0, room);
    }
    // a copy: the read buffer is reused for the next read
    this.parts.push(Buffer.from(piece));
    this.size += piece.length;
  }
}

function stripCr(s: string): string {
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}

interface Waker {
  /** Resolves on a change seen by fs.watch, after pollMs, or on abort, whichever comes first. */
  wait(): Promise<void>;
  close(): void;
}

function createWaker(path: string, pollMs: number, useWatch: boolean, signal: AbortSignal | undefined): Waker {
  let woken = false;
  let resolveWait: (() => void) | null = null;
  const wake = () => {
    woken = true;
    resolveWait?.();
  };
  const watcher = useWatch ? watchDirectory(path, wake) : null;
  signal?.addEventListener('abort', wake, { once: true });
  return {
    wait() {
      if (woken || signal?.aborted) {
        woken = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, pollMs);
        function done() {
          clearTimeout(timer);
          resolveWait = null;
          woken = false;
          resolve();
        }
        resolveWait = done;
      });
    },
    close() {
      watcher?.close();
      signal?.removeEventListener('abort', wake);
      resolveWait?.();
    },
  };
}

/**
 * Calls `onChange` when something happens to `path`'s name in its directory (the directory,
 * not the file: a watch on the file follows it when it is renamed away). Null when the system
 * cannot watch (no inotify, out of watches): the stat poll is enough then, and on a watch
 * error later the poll carries on alone.
 */
function watchDirectory(path: string, onChange: () => void): { close(): void } | null {
  const name = basename(path);
  let watcher: FSWatcher | null;
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
      if (filename === null || filename === name) onChange();
    });
  } catch {
    return null;
  }
  watcher.on('error', () => {
    watcher?.close();
    watcher = null;
  });
  return { close: () => watcher?.close() };
}
