/**
 * Runs every benchmark one after another and writes bench/RESULTS.md: the date, the machine
 * (cores, CPU model, memory, load average before and after each bench), each bench's last
 * stdout line (its JSON) and a summary table (bench | key figure | target | met?) that the
 * README's "Performance" table mirrors.
 *
 *   npm run bench:all              # every bench, sizes that fit in about 20 minutes here
 *   npm run bench:all -- --only emitter,scorer [--out bench/RESULTS.md]
 *
 * Each bench runs through its own `npm run bench:<name>` script (so scripts/with-kafka.ts
 * starts a fresh broker for those that need one), with the arguments in BENCHES below. A
 * bench that fails (exit code, no JSON on its last line, or over its time limit) is recorded
 * as failed with the end of its stderr, and the others still run. Progress goes to stderr.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';

type Json = Record<string, unknown>;

interface Summary {
  figure: string;
  target: string;
  met: boolean | null;
}

interface BenchSpec {
  name: string;
  /** A command of its own instead of `npm run bench:<name>` (with NODE_OPTIONS=--conditions=ipwatch-source). */
  command?: string[];
  /** Arguments after `npm run bench:<name> --`. */
  args: string[];
  /** Why these arguments, when they differ from the bench's defaults. */
  sizes: string;
  timeoutS: number;
  summary(j: Json): Summary;
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const fmt = (x: unknown, digits = 0): string => {
  const n = num(x);
  return n === null ? 'n/a' : n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
};
const get = (j: Json, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Json)[k] : undefined), j);
const atMost = (x: unknown, limit: number): boolean | null => (num(x) === null ? null : num(x)! <= limit);
const below = (x: unknown, limit: number): boolean | null => (num(x) === null ? null : num(x)! < limit);
const atLeast = (x: unknown, limit: number): boolean | null => (num(x) === null ? null : num(x)! >= limit);
const all = (...xs: Array<boolean | null>): boolean | null => (xs.some((x) => x === null) ? null : xs.every(Boolean));

const BENCHES: BenchSpec[] = [
  {
    name: 'emitter',
    args: [],
    sizes: 'default (6 rounds of 2 s per app and route)',
    timeoutS: 360,
    summary: (j) => ({
      figure:
        `\`throughput_ratio\` ${fmt(j.throughput_ratio, 3)} (pino-http ${fmt(get(j, 'peers.pino_http.hello_ratio'), 3)}, morgan ${fmt(get(j, 'peers.morgan.hello_ratio'), 3)}); ` +
        `\`realistic_ratio\` ${fmt(j.realistic_ratio, 3)} (pino-http ${fmt(get(j, 'peers.pino_http.realistic_ratio'), 3)}, morgan ${fmt(get(j, 'peers.morgan.realistic_ratio'), 3)}); ` +
        `app CPU added per request ${fmt(get(j, 'emitter_cpu_us_added.hello'))} µs (pino-http ${fmt(get(j, 'peers.pino_http.cpu_us_added.hello'))}, morgan ${fmt(get(j, 'peers.morgan.cpu_us_added.hello'))})`,
      target: 'ratio >= 0.95',
      met: atLeast(j.throughput_ratio, 0.95),
    }),
  },
  {
    name: 'emitter-cost',
    command: ['node_modules/.bin/tsx', 'scripts/with-kafka.ts', 'bench/support/emitterCost.ts'],
    args: ['--events', '100000'],
    sizes: '100,000 events a pass instead of 200,000',
    timeoutS: 240,
    summary: (j) => ({
      figure: `CPU per event without HTTP: emitter ${fmt(j.emitter_us, 1)} µs (Avro encoding ${fmt(j.of_which_encoder_us, 1)}), kafkajs ${fmt(j.kafkajs_us, 1)} µs, broker ${fmt(j.broker_us, 1)} µs`,
      target: 'none (where the emitter\'s time goes)',
      met: null,
    }),
  },
  {
    name: 'pipeline',
    args: [],
    sizes: 'default (200,000 events, 4 partitions)',
    timeoutS: 480,
    summary: (j) => ({
      figure: `\`events_per_s\` ${fmt(j.events_per_s)} end to end; ${fmt(j.drain_events_per_s)} draining a backlog`,
      target: '>= 50,000 events/s',
      met: atLeast(j.events_per_s, 50_000),
    }),
  },
  {
    name: 'propagation',
    args: ['--trials', '50'],
    sizes: '50 trials instead of 100',
    timeoutS: 300,
    summary: (j) => ({
      figure: `\`p50_ms\` ${fmt(j.p50_ms, 1)}, \`p99_ms\` ${fmt(j.p99_ms, 1)} (straight into Redis: p99 ${fmt(j.baseline_redis_direct_p99_ms, 1)})`,
      target: 'p99 < 1,000 ms',
      met: below(j.p99_ms, 1000),
    }),
  },
  {
    name: 'blocklist',
    args: [],
    sizes: 'default (1,000,000 entries)',
    timeoutS: 360,
    summary: (j) => {
      const memory = (num(j.heap_mb) ?? NaN) + (num(j.array_buffers_mb) ?? NaN);
      return {
        figure: `\`lookup_ns\` ${fmt(j.lookup_ns)} (p99 ${fmt(j.lookup_p99_ns)}), \`heap_mb\` ${fmt(j.heap_mb)} + ${fmt(j.array_buffers_mb)} MB typed arrays, \`full_sync_ms\` ${fmt(j.full_sync_ms)}`,
        target: 'lookup < 2,000 ns, memory < 300 MB, full sync < 5,000 ms',
        met: all(below(j.lookup_ns, 2000), below(memory, 300), below(j.full_sync_ms, 5000)),
      };
    },
  },
  {
    name: 'ratelimit',
    args: [],
    sizes: 'default (5 pairs of 4 s; 1,000,000 keys for the memory figure)',
    timeoutS: 480,
    summary: (j) => ({
      figure:
        `\`throughput_ratio\` ${fmt(j.throughput_ratio, 3)}` +
        (j.peers && typeof j.peers === 'object' ? ` (${Object.entries(j.peers as Json).map(([k, v]) => `${k} ${fmt(v, 3)}`).join(', ')})` : '') +
        (j.redis_bytes_per_key !== undefined ? `; \`redis_bytes_per_key\` ${fmt(j.redis_bytes_per_key, 1)}` : ''),
      target: 'ratio >= 0.90, <= 256 bytes per key',
      met: all(atLeast(j.throughput_ratio, 0.9), atMost(j.redis_bytes_per_key, 256)),
    }),
  },
  {
    name: 'scorer',
    args: ['--rounds', '3'],
    sizes: '3 rounds instead of 5',
    timeoutS: 360,
    summary: (j) => ({
      figure: `\`events_per_s\` ${fmt(j.events_per_s)}, \`bytes_per_client\` ${fmt(j.bytes_per_client, 1)}`,
      target: '>= 100,000 events/s, <= 300 bytes per client',
      met: all(atLeast(j.events_per_s, 100_000), atMost(j.bytes_per_client, 300)),
    }),
  },
  {
    name: 'detection',
    args: ['--trials', '20'],
    sizes: '20 trials instead of 30',
    timeoutS: 300,
    summary: (j) => ({
      figure: `\`p50_ms\` ${fmt(j.p50_ms, 1)}, \`p99_ms\` ${fmt(j.p99_ms, 1)}`,
      target: 'p99 < 1,000 ms',
      met: below(j.p99_ms, 1000),
    }),
  },
  {
    name: 'queries',
    args: ['--rows', '5000000', '--runs', '10'],
    sizes: '5,000,000 generated rows and 10 warm runs instead of 10,000,000 and 20 (the target is stated at 10,000,000)',
    timeoutS: 600,
    summary: (j) => ({
      figure: `slowest page p99 ${fmt(j.max_p99_ms)} ms over ${fmt(j.rows)} rows (generated in ${fmt(j.generate_s)} s)`,
      target: `every page p99 < ${fmt(j.target_p99_ms ?? 300)} ms (at 10M rows)`,
      met: below(j.max_p99_ms, num(j.target_p99_ms) ?? 300),
    }),
  },
];

interface Outcome {
  spec: BenchSpec;
  ok: boolean;
  json: Json | null;
  error: string | null;
  seconds: number;
  loadBefore: number[];
  loadAfter: number[];
}

const say = (line: string): void => void process.stderr.write(`${line}\n`);
const load3 = (): number[] => loadavg().map((x) => Math.round(x * 100) / 100);

async function runBench(spec: BenchSpec): Promise<Outcome> {
  const loadBefore = load3();
  const t0 = Date.now();
  say(`\n== bench:${spec.name} ${spec.args.join(' ')} (load ${loadBefore.join(' ')})`);
  // Its own process group, so a time-out can stop the bench with its broker and children.
  const [cmd, ...cmdArgs] = spec.command ? [...spec.command, ...spec.args] : ['npm', 'run', '--silent', `bench:${spec.name}`, ...(spec.args.length ? ['--', ...spec.args] : [])];
  const env = spec.command ? { ...process.env, NODE_OPTIONS: '--conditions=ipwatch-source' } : process.env;
  const child = spawn(cmd!, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
  let out = '';
  let errTail = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    process.stderr.write(s);
    errTail = (errTail + s).slice(-4000);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGINT');
      setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 15_000).unref();
    } catch {
      // already gone
    }
  }, spec.timeoutS * 1000);
  const code = await new Promise<number>((resolve) => {
    child.once('error', (err) => {
      errTail += `\n${err.message}`;
      resolve(1);
    });
    child.once('close', (c) => resolve(c ?? 1));
  });
  clearTimeout(timer);
  const seconds = Math.round((Date.now() - t0) / 1000);
  const lastLine = out.trim().split('\n').pop() ?? '';
  let json: Json | null = null;
  try {
    const parsed: unknown = JSON.parse(lastLine);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Json;
  } catch {
    // not JSON: recorded as a failure below
  }
  const lastErrLines = errTail.trim().split('\n').slice(-8).join('\n');
  const error = timedOut
    ? `stopped after its time limit of ${spec.timeoutS} s\n${lastErrLines}`
    : code !== 0
      ? `exit code ${code}\n${lastErrLines}`
      : json === null
        ? `its last stdout line is not a JSON object: ${JSON.stringify(lastLine.slice(0, 300))}`
        : null;
  const outcome = { spec, ok: error === null, json, error, seconds, loadBefore, loadAfter: load3() };
  say(`== bench:${spec.name} ${outcome.ok ? 'done' : 'FAILED'} in ${seconds} s`);
  return outcome;
}

function commandLine(spec: BenchSpec): string {
  const args = spec.args.join(' ');
  return spec.command ? `NODE_OPTIONS=--conditions=ipwatch-source ${spec.command.join(' ')} ${args}`.trim() : `npm run bench:${spec.name}${args ? ` -- ${args}` : ''}`;
}

function summarise(o: Outcome): Summary {
  if (!o.ok || o.json === null) return { figure: 'failed (see below)', target: o.spec.summary({}).target, met: false };
  try {
    return o.spec.summary(o.json);
  } catch (err) {
    return { figure: `could not summarise: ${err instanceof Error ? err.message : String(err)}`, target: '', met: null };
  }
}

function report(outcomes: Outcome[], started: Date, finished: Date): string {
  const cpu = cpus();
  const lines: string[] = [];
  lines.push('# Benchmark results');
  lines.push('');
  lines.push(`Written by \`npm run bench:all\` (scripts/bench-all.ts); the README's "Performance" table is this file's summary. Each bench compares against its baseline (and its peers) in one run, so its ratios hold even when the machine is loaded; absolute figures move with the machine's load.`);
  lines.push('');
  lines.push(`- Date: ${started.toISOString()} to ${finished.toISOString()} (${Math.round((finished.getTime() - started.getTime()) / 60000)} min)`);
  lines.push(`- Machine: ${cpu.length} cores, ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB of memory, shared with other jobs`);
  lines.push(`- Node ${process.version}, ${process.platform} ${process.arch}`);
  lines.push('');
  lines.push('## Summary');
  lines.push('');
  lines.push('| bench | key figure | target | met? |');
  lines.push('| --- | --- | --- | --- |');
  for (const o of outcomes) {
    const s = summarise(o);
    const met = s.met === null ? 'n/a' : s.met ? '**met**' : '**not met**';
    lines.push(`| \`${o.spec.command ? o.spec.command.slice(1).join(' ').replace('scripts/with-kafka.ts ', '') : `npm run bench:${o.spec.name}`}\` | ${s.figure} | ${s.target} | ${met} |`);
  }
  lines.push('');
  lines.push('## Each bench');
  for (const o of outcomes) {
    lines.push('');
    lines.push(`### bench:${o.spec.name}`);
    lines.push('');
    lines.push(`- Command: \`${commandLine(o.spec)}\` (sizes: ${o.spec.sizes})`);
    lines.push(`- ${o.ok ? 'Ran' : '**Failed**'} in ${o.seconds} s; load average (1, 5, 15 min) before ${o.loadBefore.join(', ')}, after ${o.loadAfter.join(', ')}`);
    lines.push('');
    if (o.error !== null) {
      lines.push('Error:');
      lines.push('');
      lines.push('```');
      lines.push(o.error);
      lines.push('```');
    }
    if (o.json !== null) {
      lines.push('```json');
      lines.push(JSON.stringify(o.json, null, 2));
      lines.push('```');
    }
  }
  lines.push('');
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, out: { type: 'string', default: 'bench/RESULTS.md' } } });
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((n) => !BENCHES.some((b) => b.name === n)) ?? [];
  if (unknown.length > 0) {
    say(`bench:all: no bench named ${unknown.join(', ')}; the benches are ${BENCHES.map((b) => b.name).join(', ')}`);
    return 2;
  }
  const chosen = only ? BENCHES.filter((b) => only.includes(b.name)) : BENCHES;
  const started = new Date();
  const outcomes: Outcome[] = [];
  for (const spec of chosen) outcomes.push(await runBench(spec));
  const finished = new Date();
  writeFileSync(values.out, report(outcomes, started, finished));
  const failed = outcomes.filter((o) => !o.ok).map((o) => o.spec.name);
  say(`\nbench:all: ${outcomes.length - failed.length} of ${outcomes.length} benches ran${failed.length ? `; failed: ${failed.join(', ')}` : ''}; results in ${values.out}`);
  process.stdout.write(`${JSON.stringify({ bench: 'all', out: values.out, ran: outcomes.map((o) => ({ bench: o.spec.name, ok: o.ok, seconds: o.seconds, summary: summarise(o) })) })}\n`);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench:all failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
