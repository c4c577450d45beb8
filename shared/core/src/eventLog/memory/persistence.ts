/**
 * Persistence of the in-process log's compacted topics (blocks, allowlist, rules: state, not
 * streams), so that the embedded mode's blocks survive a restart. Each such topic is one
 * JSON-lines file, appended to on produce and rewritten compacted when loaded.
 *
 * @example
 * loadPersistedTopic(topic, '.ipwatch/log'); // at first use of the topic
 * appendPersisted(topic, topic.persistPath, messages, Date.now()); // on produce: on disk, then visible
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LogMessage, OutgoingMessage } from '../../eventLog.ts';
import type { Partition, Topic } from './partition.ts';

/** One record of a persisted compacted topic, one JSON line each. */
interface PersistedRecord {
  p: number;
  k: string | null;
  v: string | null;
  h: Record<string, string>;
  t: number;
}

function persistedLine(m: { partition: number; key: string | null; value: Buffer | null; headers?: Record<string, string>; timestamp: number }): string {
  const r: PersistedRecord = { p: m.partition, k: m.key, v: m.value === null ? null : m.value.toString('base64'), h: m.headers ?? {}, t: m.timestamp };
  return `${JSON.stringify(r)}\n`;
}

/** Reads a compacted topic back from disk, then rewrites its file with only the latest record per key; the topic appends to it from then on. */
export function loadPersistedTopic(t: Topic, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${encodeURIComponent(t.name)}.jsonl`);
  if (existsSync(path)) {
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (line === '') return;
      let r: PersistedRecord;
      try {
        r = JSON.parse(line) as PersistedRecord;
      } catch {
        // A line cut short by a crash mid-append is the last one; anything else is not ours to guess.
        if (i >= lines.length - 2) return;
        throw new Error(`${path}, line ${i + 1}: not a record of the in-process log; move the file away to start with an empty ${t.name}`);
      }
      const p = t.partitions[r.p % t.partitions.length] as Partition;
      p.append({ key: r.k, value: r.v === null ? null : Buffer.from(r.v, 'base64'), headers: r.h }, r.t);
    });
  }
  const kept: string[] = [];
  for (const p of t.partitions) {
    for (let i = p.head; i < p.entries.length; i++) {
      const e = p.entries[i] as LogMessage;
      // Tombstones need not be kept on disk: the topic is read again from the start after a restart.
      if (e.value !== null && p.isLatest(e, p.offs[i] as number)) kept.push(persistedLine(e));
    }
  }
  writeFileSync(`${path}.tmp`, kept.join(''));
  renameSync(`${path}.tmp`, path);
  t.persistPath = path;
}

/** Appends a produce call's messages to a persisted topic: written before the records are visible, synchronously, so what produce() accepted is on disk. */
export function appendPersisted(t: Topic, path: string, messages: OutgoingMessage[], timestamp: number): void {
  const parts = messages.map((m) => t.partitionFor(m.key));
  appendFileSync(path, messages.map((m, i) => persistedLine({ ...m, partition: (parts[i] as Partition).index, timestamp })).join(''));
  messages.forEach((m, i) => (parts[i] as Partition).append(m, timestamp));
}
