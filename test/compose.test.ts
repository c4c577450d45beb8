/**
 * docker-compose.yml is checked against the code it deploys: the commands exist, the
 * variables are the ones config.ts reads and parse, every address points at a service of
 * the file on the port it listens on. Docker is not needed: the file is read as YAML.
 */
import { test, describe } from '@jest/globals';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../shared/core/src/config.ts';
import { RUNNABLE_SERVICES } from '../services/cli/src/runnable.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * `ipwatch` commands other than `run <service>` that compose may call. The CLI's command
 * table is not importable from here, so this list is kept by hand: add a command when
 * compose starts using it, after checking `ipwatch --help` has it.
 */
const KNOWN_COMMANDS = ['migrate', 'topics'];

/**
 * Stands in for a `${VAR:?message}` the operator must set (in .env): a value such as
 * `openssl rand -hex 32` gives, valid for every variable that uses it, tokens included.
 */
const OPERATOR_VALUE = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';

type Json = unknown;
interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number; published?: number | string; host_ip?: string; protocol?: string })[];
  expose?: (string | number)[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  restart?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
}

/** Compose's own interpolation, enough for this file: defaults are taken, required values are stand-ins. */
function interpolate(value: Json, problems: string[], where = ''): Json {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*)|(:?\?)([^}]*))?\}/g, (match, name: string | undefined, _d, fallback: string | undefined, required: string | undefined) => {
      if (match === '$$') return '$';
      if (fallback !== undefined) return fallback;
      if (required !== undefined) return OPERATOR_VALUE;
      problems.push(`${where}: \${${name}} has no default and is not marked required (\${${name}:?message}): compose would quietly use an empty string`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, problems, `${where}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, problems, where ? `${where}.${k}` : k)]));
  }
  return value;
}

function loadCompose(): { doc: ComposeFile; interpolationProblems: string[] } {
  // merge: the file shares blocks through YAML merge keys (<<), as compose does.
  const raw = parse(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Json;
  const interpolationProblems: string[] = [];
  const doc = interpolate(raw, interpolationProblems) as ComposeFile;
  assert.ok(doc && typeof doc.services === 'object', 'docker-compose.yml has no services');
  return { doc, interpolationProblems };
}

function envOf(service: ComposeService): Record<string, string> {
  const env = service.environment;
  if (!env) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((line) => {
      const eq = line.indexOf('=');
      return eq === -1 ? [line, ''] : [line.slice(0, eq), line.slice(eq + 1)];
    }));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** Built from this repository (the one Dockerfile), as opposed to a third-party image. */
function isOurs(service: ComposeService): boolean {
  return service.build !== undefined;
}

/** The argument lists given to `ipwatch` in a command, e.g. [['run', 'sink']]; `sh -c` scripts are split on && ; ||. */
function ipwatchInvocations(command: ComposeService['command']): string[][] {
  if (command === undefined) return [];
  let words = typeof command === 'string' ? command.trim().split(/\s+/) : command;
  if ((words[0] === 'sh' || words[0] === 'bash') && words[1] === '-c' && words[2] !== undefined) words = words[2].split(/\s+/);
  const out: string[][] = [];
  words.forEach((word, i) => {
    if (word !== 'ipwatch' && !word.endsWith('/ipwatch') && !word.endsWith('/ipwatch.js')) return;
    const args: string[] = [];
    for (const w of words.slice(i + 1)) {
      if (['&&', '||', ';'].includes(w)) break;
      args.push(w);
    }
    out.push(args);
  });
  return out;
}

interface PortMapping { hostIp: string; published: number | null; target: number; protocol: string; raw: string }

function portMappings(service: ComposeService): PortMapping[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'object') {
      return { hostIp: p.host_ip ?? '', published: p.published === undefined ? null : Number(p.published), target: p.target, protocol: p.protocol ?? 'tcp', raw: JSON.stringify(p) };
    }
    const raw = String(p);
    const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(raw);
    if (!m) throw new Error(`port ${JSON.stringify(raw)}: this test reads only [ip:][published:]target[/proto]; extend it or use that form`);
    return { hostIp: m[1] ?? '', published: m[2] === undefined ? null : Number(m[2]), target: Number(m[3]), protocol: m[4] ?? 'tcp', raw };
  });
}

/** The ports a service listens on inside the compose network: `expose` plus the targets of `ports`. */
function listeningPorts(service: ComposeService): Set<number> {
  return new Set([...(service.expose ?? []).map(Number), ...portMappings(service).map((p) => p.target)]);
}

function dependencies(service: ComposeService): Record<string, string | undefined> {
  const d = service.depends_on;
  if (!d) return {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((name) => [name, undefined]));
  return Object.fromEntries(Object.entries(d).map(([name, v]) => [name, v?.condition]));
}

// ---------------------------------------------------------------- the checks: each returns its problems

function checkCommands(doc: ComposeFile): string[] {
  const problems: string[] = [];
  const runnable: readonly string[] = RUNNABLE_SERVICES;
  for (const [name, service] of Object.entries(doc.services)) {
    if (!isOurs(service)) continue;
    const invocations = ipwatchInvocations(service.command);
    if (invocations.length === 0) problems.push(`${name}: built from the repo but runs no \`ipwatch\` command (command: ${JSON.stringify(service.command)})`);
    for (const args of invocations) {
      const [sub, target] = args;
      if (sub === 'run') {
        if (target === undefined || !runnable.includes(target)) problems.push(`${name}: \`ipwatch run ${target ?? ''}\`: not in RUNNABLE_SERVICES (${runnable.join(', ')})`);
      } else if (sub === undefined || !KNOWN_COMMANDS.includes(sub)) {
        problems.push(`${name}: \`ipwatch ${args.join(' ')}\`: ${sub ?? '(nothing)'} is not a known command (run, ${KNOWN_COMMANDS.join(', ')})`);
      }
    }
  }
  for (const wanted of RUNNABLE_SERVICES) {
    const runs = Object.values(doc.services).some((s) => isOurs(s) && ipwatchInvocations(s.command).some(([sub, t]) => sub === 'run' && t === wanted));
    if (!runs) problems.push(`RUNNABLE_SERVICES has ${wanted}, but no compose service runs \`ipwatch run ${wanted}\``);
  }
  return problems;
}

function checkEnvironment(doc: ComposeFile): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(doc.services)) {
    const env = envOf(service);
    for (const key of Object.keys(env)) {
      if (key.startsWith('IPWATCH_') && !Object.hasOwn(CONFIG_VARIABLES, key)) {
        problems.push(`${name}: ${key} is not a variable config.ts reads (see CONFIG_VARIABLES)`);
      } else if (isOurs(service) && !key.startsWith('IPWATCH_')) {
        problems.push(`${name}: ${key}: ipwatch processes are configured only through the IPWATCH_* variables of config.ts`);
      }
    }
    if (!isOurs(service)) continue;
    try {
      loadConfig(env, '/app');
    } catch (err) {
      problems.push(`${name}: loadConfig rejects its environment: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return problems;
}

/** Broker, ClickHouse and Redis addresses must name a service of this file, on a port it listens on. */
function checkAddresses(doc: ComposeFile): string[] {
  const problems: string[] = [];
  const target = (from: string, variable: string, host: string, port: number): void => {
    const to = doc.services[host];
    if (!to) {
      problems.push(`${from}: ${variable} names host ${host}, which is not a service of docker-compose.yml (${Object.keys(doc.services).join(', ')})`);
      return;
    }
    if (!listeningPorts(to).has(port)) {
      problems.push(`${from}: ${variable} uses ${host}:${port}, but ${host} listens on ${[...listeningPorts(to)].join(', ') || 'no declared port (add expose)'}`);
    }
    // Kafka clients reconnect to the address the broker advertises, not the one they were given.
    const advertised = envOf(to).KAFKA_ADVERTISED_LISTENERS;
    if (advertised !== undefined && !advertised.split(',').some((l) => l.trim().endsWith(`://${host}:${port}`))) {
      problems.push(`${from}: ${variable} uses ${host}:${port}, but ${host} advertises only ${advertised}; clients would be sent elsewhere`);
    }
  };
  for (const [name, service] of Object.entries(doc.services)) {
    const env = envOf(service);
    for (const broker of (env.IPWATCH_KAFKA_BROKERS ?? '').split(',').map((b) => b.trim()).filter(Boolean)) {
      const m = /^(.+):(\d+)$/.exec(broker);
      if (m?.[1] && m[2]) target(name, 'IPWATCH_KAFKA_BROKERS', m[1], Number(m[2]));
      else problems.push(`${name}: IPWATCH_KAFKA_BROKERS entry ${JSON.stringify(broker)} is not host:port`);
    }
    const urls: [string, number][] = [['IPWATCH_CLICKHOUSE_URL', 8123], ['IPWATCH_REDIS_URL', 6379]];
    for (const [variable, defaultPort] of urls) {
      const raw = env[variable];
      if (!raw) continue;
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        problems.push(`${name}: ${variable}=${raw} is not a URL`);
        continue;
      }
      // Compose files spell the port out: an implicit :80 for ClickHouse is always a mistake.
      target(name, variable, url.hostname, url.port === '' ? defaultPort : Number(url.port));
    }
  }
  return problems;
}

function checkPublishedPorts(doc: ComposeFile): string[] {
  const problems: string[] = [];
  const seen: { service: string; mapping: PortMapping }[] = [];
  for (const [name, service] of Object.entries(doc.services)) {
    for (const mapping of portMappings(service)) {
      if (mapping.published === null) continue;
      for (const other of seen) {
        const o = other.mapping;
        const sameAddress = o.hostIp === mapping.hostIp || o.hostIp === '' || mapping.hostIp === '' || o.hostIp === '0.0.0.0' || mapping.hostIp === '0.0.0.0';
        if (o.published === mapping.published && o.protocol === mapping.protocol && sameAddress) {
          problems.push(`${name} publishes ${mapping.raw}, which collides with ${other.service}'s ${o.raw}`);
        }
      }
      seen.push({ service: name, mapping });
    }
  }
  return problems;
}

function checkDependencies(doc: ComposeFile): string[] {
  const problems: string[] = [];
  const conditions = ['service_started', 'service_healthy', 'service_completed_successfully'];
  for (const [name, service] of Object.entries(doc.services)) {
    for (const [dep, condition] of Object.entries(dependencies(service))) {
      if (!doc.services[dep]) problems.push(`${name}: depends_on ${dep}, which is not a service`);
      if (dep === name) problems.push(`${name}: depends on itself`);
      if (condition !== undefined && !conditions.includes(condition)) problems.push(`${name}: depends_on ${dep} with unknown condition ${condition}`);
      if (condition === 'service_healthy' && doc.services[dep]?.healthcheck?.disable) {
        problems.push(`${name}: waits for ${dep} to be healthy, but ${dep} has its healthcheck disabled`);
      }
    }
  }
  return problems;
}

/**
 * Every service has a healthcheck. The one exception is a one-shot job (restart "no") that
 * every dependent waits on with service_completed_successfully: it exits, there is nothing
 * to probe, and it must say so with `disable: true`. ipwatch services must probe their own
 * /healthz on their IPWATCH_METRICS_PORT.
 */
function checkHealthchecks(doc: ComposeFile): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(doc.services)) {
    const hc = service.healthcheck;
    if (hc?.disable === true) {
      const dependents = Object.entries(doc.services).filter(([, s]) => name in dependencies(s));
      const oneShot = service.restart === 'no' && dependents.length > 0 && dependents.every(([, s]) => dependencies(s)[name] === 'service_completed_successfully');
      if (!oneShot) problems.push(`${name}: healthcheck disabled, but it is not a one-shot job every dependent waits on with service_completed_successfully`);
      continue;
    }
    const probe = hc?.test === undefined ? '' : Array.isArray(hc.test) ? hc.test.join(' ') : hc.test;
    if (probe.trim() === '' || probe === 'NONE') {
      problems.push(`${name}: no healthcheck`);
      continue;
    }
    if (isOurs(service)) {
      const port = envOf(service).IPWATCH_METRICS_PORT ?? '9464';
      if (!probe.includes(`:${port}/healthz`)) problems.push(`${name}: its healthcheck should hit its own /healthz on IPWATCH_METRICS_PORT ${port}; it runs: ${probe}`);
    }
  }
  return problems;
}

function checkBuild(doc: ComposeFile): string[] {
  const problems: string[] = [];
  const dockerfile = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8');
  for (const [name, service] of Object.entries(doc.services)) {
    if (!isOurs(service)) continue;
    const build = typeof service.build === 'string' ? { context: service.build } : service.build ?? {};
    if (resolve(ROOT, build.context ?? '.') !== ROOT) problems.push(`${name}: built from ${build.context}, not the repository root`);
    if (!existsSync(resolve(ROOT, build.context ?? '.', build.dockerfile ?? 'Dockerfile'))) problems.push(`${name}: its Dockerfile does not exist`);
  }
  // The Dockerfile copies every workspace's manifest before `npm ci`; a new workspace missing there fails the install.
  const workspaces = (JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { workspaces?: string[] }).workspaces ?? [];
  for (const ws of workspaces) {
    if (!dockerfile.includes(`COPY ${ws}/package.json ${ws}/`)) problems.push(`Dockerfile: does not copy ${ws}/package.json before npm ci (workspace of package.json)`);
  }
  return problems;
}

// ---------------------------------------------------------------- the tests

describe('docker-compose.yml', () => {
  const { doc, interpolationProblems } = loadCompose();

  test('every ${VAR} has a default or is marked required', () => {
    assert.deepEqual(interpolationProblems, []);
  });

  test('services built from the repo run an ipwatch command that exists, and every runnable service is deployed', () => {
    assert.deepEqual(checkCommands(doc), []);
  });

  test('every IPWATCH_* variable is one config.ts reads, and loadConfig accepts each environment', () => {
    assert.deepEqual(checkEnvironment(doc), []);
  });

  test('Kafka, ClickHouse and Redis addresses name a compose service on the port it listens on', () => {
    assert.deepEqual(checkAddresses(doc), []);
  });

  test('published ports do not collide', () => {
    assert.deepEqual(checkPublishedPorts(doc), []);
  });

  test('every depends_on names an existing service', () => {
    assert.deepEqual(checkDependencies(doc), []);
  });

  test('every service has a healthcheck; ipwatch services probe their own /healthz', () => {
    assert.deepEqual(checkHealthchecks(doc), []);
  });

  test('every service of the repo is built from the root Dockerfile, which installs every workspace', () => {
    assert.deepEqual(checkBuild(doc), []);
  });

  test('the checks catch a bad file: proven on mutated copies', () => {
    const mutate = (change: (d: ComposeFile) => void): ComposeFile => {
      const copy = structuredClone(doc);
      change(copy);
      return copy;
    };
    const env = (d: ComposeFile, service: string): Record<string, string> => {
      const s = d.services[service];
      assert.ok(s, `no ${service} service to mutate`);
      const normalized = envOf(s);
      s.environment = normalized;
      return normalized;
    };
    const first = RUNNABLE_SERVICES[0];

    // A variable config.ts does not know (a typo of IPWATCH_KAFKA_BROKERS).
    assert.match(checkEnvironment(mutate((d) => (env(d, first).IPWATCH_KAFKA_BROKER = 'kafka:9092'))).join('\n'), /IPWATCH_KAFKA_BROKER is not a variable/);
    // A known variable with a value loadConfig refuses.
    assert.match(checkEnvironment(mutate((d) => (env(d, first).IPWATCH_METRICS_PORT = 'ninety'))).join('\n'), /loadConfig rejects.*IPWATCH_METRICS_PORT/s);
    // Configuration outside the IPWATCH_* variables.
    assert.match(checkEnvironment(mutate((d) => (env(d, first).KAFKA_BROKERS = 'kafka:9092'))).join('\n'), /only through the IPWATCH_\* variables/);
    // An address naming no service, or the wrong port.
    assert.match(checkAddresses(mutate((d) => (env(d, first).IPWATCH_REDIS_URL = 'redis://cache:6379'))).join('\n'), /host cache, which is not a service/);
    assert.match(checkAddresses(mutate((d) => (env(d, first).IPWATCH_KAFKA_BROKERS = 'kafka:29092'))).join('\n'), /kafka:29092, but kafka listens on/);
    assert.match(checkAddresses(mutate((d) => (env(d, first).IPWATCH_CLICKHOUSE_URL = 'http://clickhouse:9000'))).join('\n'), /clickhouse:9000/);
    // A command that does not exist, and a runnable service left out.
    assert.match(checkCommands(mutate((d) => (d.services[first]!.command = ['npx', 'ipwatch', 'run', 'nosuch']))).join('\n'), /run nosuch`: not in RUNNABLE_SERVICES/);
    assert.match(checkCommands(mutate((d) => (d.services[first]!.command = 'npx ipwatch migrat'))).join('\n'), /migrat is not a known command/);
    assert.match(checkCommands(mutate((d) => delete d.services[first])).join('\n'), new RegExp(`no compose service runs \`ipwatch run ${first}\``));
    // Colliding ports, a dangling depends_on, a missing healthcheck.
    assert.match(checkPublishedPorts(mutate((d) => d.services.redis!.ports!.push('8123:8123'))).join('\n'), /collides/);
    assert.match(checkDependencies(mutate((d) => (d.services[first]!.depends_on = { zookeeper: { condition: 'service_healthy' } }))).join('\n'), /zookeeper, which is not a service/);
    assert.match(checkHealthchecks(mutate((d) => delete d.services.redis!.healthcheck)).join('\n'), /redis: no healthcheck/);
    assert.match(checkHealthchecks(mutate((d) => (d.services[first]!.healthcheck = { disable: true }))).join('\n'), /not a one-shot job/);
  });
});
