#!/usr/bin/env node
/**
 * Builds the packages apps install, @ipwatch/core then @ipwatch/emitter, to ESM JavaScript
 * with .d.ts types in their dist/ folders, and copies the wire contract (/schemas/*.avsc)
 * into core's dist/avsc/, where the built codecs find it. Run by `npm ci` (the root
 * `prepare` script) and by `npm run build`. Plain JavaScript: it runs before anything else
 * is set up. Inside the repository nothing needs dist/: every process resolves the
 * packages' `ipwatch-source` export condition to the TypeScript sources.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // A production install (npm ci --omit=dev) has no compiler, and needs no dist/: the services run from sources.
  process.stdout.write('build: typescript is not installed (a production install?): dist/ not built; services run from sources\n');
  process.exit(0);
}

for (const pkg of ['shared/core', 'shared/emitter']) {
  const dir = join(root, pkg);
  rmSync(join(dir, 'dist'), { recursive: true, force: true });
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`build: tsc failed for ${pkg} (exit ${r.status ?? r.signal}); fix the type errors above, then run npm run build\n`);
    process.exit(1);
  }
  process.stdout.write(`build: ${pkg}/dist in ${Date.now() - t0} ms\n`);
}

const avsc = join(root, 'shared/core/dist/avsc');
mkdirSync(avsc, { recursive: true });
for (const f of readdirSync(join(root, 'schemas'))) {
  if (f.endsWith('.avsc')) cpSync(join(root, 'schemas', f), join(avsc, f));
}
