/**
 * App instances with the emitter as child processes (test/support/enforcedApp.ts), and a
 * small HTTP client that can pose as a proxy (X-Forwarded-For) or as an untrusted peer
 * (another loopback source address).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { childEnv } from './components.ts';

const APP = fileURLToPath(new URL('./enforcedApp.ts', import.meta.url));

export interface AppProcess {
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export async function startAppProcess(env: Record<string, string>): Promise<AppProcess> {
  const base = childEnv({});
  for (const k of Object.keys(base)) if (k.startsWith('IPWATCH_')) delete base[k];
  return startListeningProcess(['--import', 'tsx', APP], { env: { ...base, ...env } });
}

/**
 * `node <args>` as a child that prints `{"port": N}` on stdout once it listens; stop() sends
 * SIGTERM (SIGKILL after 5 s). Rejects with its stderr when it exits or is silent for 60 s.
 */
export async function startListeningProcess(args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): Promise<AppProcess> {
  const child = spawn(process.execPath, args, { env: options.env, ...(options.cwd && { cwd: options.cwd }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${args.at(-1)} did not start within 60 s:\n${stderr}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.at(-1)} exited with ${code} at start:\n${stderr}`));
    });
  });
  return {
    port,
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request; `xff` poses as the trusted proxy's header, `from` picks the source address (e.g. 127.0.0.2: untrusted). */
export function call(port: number, path: string, opts: { xff?: string; from?: string; method?: string; json?: unknown; accept?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? (body ? 'POST' : 'GET'),
        ...(opts.from && { localAddress: opts.from }),
        headers: {
          ...(opts.xff && { 'x-forwarded-for': opts.xff }),
          ...(body && { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
          ...(opts.accept && { accept: opts.accept }),
          connection: 'close',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from :${port}${path} in 10 s`)));
    req.end(body);
  });
}

/** Polls `check` every 20 ms until it is true; throws with `what` after `timeoutMs`. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not so after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}
