/**
 * Fetching the Kafka broker's jars from Maven Central (through the pom.xml beside this file)
 * into a cache folder, once; harness.ts runs them. Also the small process and file helpers
 * both halves use.
 *
 * @example
 * const dir = await ensureKafkaJars(); // then java -cp "<dir>/*" kafka.Kafka ...
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KAFKA_VERSION = '4.1.1';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, '..', '..');
/** Git-ignored (.gitignore has .cache/); Maven's own ~/.m2 cache makes a refill fast. */
const DEFAULT_JARS_DIR = join(REPO_ROOT, '.cache', `kafka-${KAFKA_VERSION}`);
/** Written last, so a half-copied folder (interrupted mvn) is never taken for a complete one. */
const COMPLETE_MARKER = '.complete';

/**
 * Makes sure the broker's jars are on disk and returns their folder (use it as `<dir>/*`).
 * Runs Maven once; later calls find the folder complete and return at once.
 */
export async function ensureKafkaJars(dir: string = DEFAULT_JARS_DIR): Promise<string> {
  if (await exists(join(dir, COMPLETE_MARKER))) return dir;
  await mkdir(dirname(dir), { recursive: true });
  // Copy into a private folder and rename it into place: two runs at once never see half a folder.
  const staging = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await rm(staging, { recursive: true, force: true });
  const args = [
    '-q',
    '-B',
    '-f',
    join(HERE, 'pom.xml'),
    'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${staging}`,
  ];
  const { code, output } = await run('mvn', args, { cwd: HERE });
  if (code !== 0) {
    await rm(staging, { recursive: true, force: true });
    throw new Error(
      `could not fetch the Kafka ${KAFKA_VERSION} jars with Maven (exit ${code}).\n` +
        `Command: mvn ${args.join(' ')}\n${tail(output, 40)}\n` +
        'Check that Maven and a JDK are installed and that Maven Central is reachable.',
    );
  }
  const jars = (await readdir(staging)).filter((f) => f.endsWith('.jar'));
  if (!jars.some((j) => j.startsWith('kafka_2.13-'))) {
    throw new Error(`Maven ran but ${staging} holds no kafka_2.13 jar; see infra/kafka-local/pom.xml`);
  }
  await writeFile(join(staging, COMPLETE_MARKER), `${new Date().toISOString()}\n`);
  try {
    await rename(staging, dir);
  } catch (err) {
    // Another run finished first: keep its folder.
    await rm(staging, { recursive: true, force: true });
    if (!(await exists(join(dir, COMPLETE_MARKER)))) throw err;
  }
  return dir;
}

/** Runs a command to its end, stdout and stderr together; a command that cannot start gives code -1. */
export function run(cmd: string, args: string[], opts: { cwd: string }): Promise<{ code: number | null; output: string }> {
  return new Promise((res) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.once('error', (err) => res({ code: -1, output: `${cmd}: ${err.message}` }));
    child.once('close', (code) => res({ code, output: Buffer.concat(chunks).toString('utf8') }));
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A file's text, or '' when it cannot be read (a log the broker never wrote). */
export async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/** The last `lines` lines of a text, for error messages. */
export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
