#!/usr/bin/env node
/**
 * Puts into npm's cache everything an app outside this repository needs to install the
 * packed @ipwatch/emitter and @ipwatch/core (their dependencies, at the versions locked in
 * package-lock.json), plus Express for the test apps, so that the packaging test
 * (test/packages.kafka.redis.test.ts) installs them offline. Run by `npm ci` (the root `prepare`).
 *
 *   node scripts/cache-app-deps.mjs          fill the cache (skipped when every entry is there)
 *   node scripts/cache-app-deps.mjs --print  print {"name": "version"} of that closure, as JSON
 *
 * Plain JavaScript: it runs before anything else is set up.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** What the scratch apps of the packaging test add beside the ipwatch packages. */
const APP_FRAMEWORKS = ['express'];

/** name -> version of every package the packed emitter, core and the frameworks pull in, as locked. */
export function appDependencyClosure() {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const packages = lock.packages;
  const out = {};
  // node's lookup: the package's own node_modules, then each parent's, up to the root.
  const locate = (from, name) => {
    for (let dir = from; ; dir = dir.includes('/node_modules/') ? dir.slice(0, dir.lastIndexOf('/node_modules/')) : '') {
      const path = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
      if (packages[path]) return path;
      if (!dir) return null;
    }
  };
  const visit = (path) => {
    const entry = packages[path];
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (out[name] === entry.version) return;
    if (out[name] !== undefined) throw new Error(`two versions of ${name} in the closure (${out[name]}, ${entry.version}): pin it in the test's overrides by hand`);
    out[name] = entry.version;
    for (const dep of Object.keys(entry.dependencies ?? {})) {
      const found = locate(path, dep);
      if (found) visit(found);
    }
  };
  const core = packages['shared/core'];
  for (const dep of [...Object.keys(core.dependencies), ...APP_FRAMEWORKS]) {
    const found = locate('', dep);
    if (!found) throw new Error(`${dep} is not in package-lock.json: run npm install`);
    visit(found);
  }
  return out;
}

function main() {
  const closure = appDependencyClosure();
  if (process.argv.includes('--print')) {
    process.stdout.write(`${JSON.stringify(closure)}\n`);
    return;
  }
  const specs = Object.entries(closure).map(([name, version]) => `${name}@${version}`);
  const stamp = join(root, '.cache', 'app-deps.json');
  const key = JSON.stringify(specs);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === key) return;
  const t0 = Date.now();
  const r = spawnSync('npm', ['cache', 'add', ...specs], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) {
    // Only the packaging test needs these; say so rather than fail the whole set-up.
    process.stderr.write(`cache-app-deps: npm cache add failed (exit ${r.status ?? r.signal}); the packaging test will not install offline until it succeeds\n`);
    return;
  }
  mkdirSync(dirname(stamp), { recursive: true });
  writeFileSync(stamp, key);
  process.stdout.write(`cache-app-deps: ${specs.length} packages for apps in npm's cache in ${Date.now() - t0} ms\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
