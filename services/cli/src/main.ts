/** `ipwatch <command>`: the registry of commands and the one place errors become messages. */
import { CONFIG_VARIABLES } from '@ipwatch/core/config';
import { ERRORS, exitCodeOf, isIpwatchError } from '@ipwatch/core/errors';
import { out, info } from './output.ts';

interface Command {
  summary: string;
  load: () => Promise<{ help: string; run(argv: string[]): Promise<number> }>;
}

export const COMMANDS: Record<string, Command> = {
  dev: { summary: 'run everything in one process (embedded mode), with a demo app and simulated traffic', load: () => import('./commands/dev.ts') },
  run: { summary: 'run one service (enricher, sink, scorer, alerter, api, blocksync) as its own process (distributed mode)', load: () => import('./commands/run.ts') },
  logs: { summary: 'view and filter stored requests', load: () => import('./commands/logs.ts') },
  analyze: { summary: 'everything known about one client: blocked now and why, traffic, paths, logins, limits, detections (--hours, --json)', load: () => import('./commands/analyze.ts') },
  replay: { summary: 'import a web-server access log (combined, common or nginx JSON; --follow tails it) as request events', load: () => import('./commands/replay.ts') },
  migrate: { summary: 'apply ClickHouse migrations', load: () => import('./commands/migrate.ts') },
  topics: { summary: 'create the Kafka topics', load: () => import('./commands/topics.ts') },
  block: { summary: 'block an IP or CIDR on every app instance (--reason, --expires)', load: () => import('./commands/block.ts') },
  unblock: { summary: 'lift a block', load: () => import('./commands/unblock.ts') },
  blocks: { summary: 'list the blocks in force, with time left', load: () => import('./commands/blocks.ts') },
  allow: { summary: 'manage the allowlist (no block, no rate limit): allow <target> | --remove <target> | --list', load: () => import('./commands/allow.ts') },
  detect: { summary: 'run the detection rules over stored history: a backfill, or a what-if before enabling a rule (--since, --rule, --dry-run)', load: () => import('./commands/detect.ts') },
  alerts: { summary: 'alerts test [--channel email|webhook|slack]: send a test alert through the configured channels and say which worked', load: () => import('./commands/alerts.ts') },
  rules: { summary: 'the detection rules, changed live: rules list | show <id> | set <id> ... | enable | disable | dry-run | live | reset <id>', load: () => import('./commands/rules.ts') },
  report: { summary: 'the daily report: traffic, top clients, paths, countries, networks, detections, blocks, rate limits, against the day before (--daily, --date, --tz, --format)', load: () => import('./commands/report.ts') },
  privacy: { summary: 'a data subject\'s request: privacy export | erase <ip|cidr> or --user ID (everything stored, with what it means; erased everywhere it can be, with what stays and until when) | audit | pending', load: () => import('./commands/privacy.ts') },
  sql: { summary: 'run a read-only SQL query against the store (ClickHouse\'s guards, recorded in the audit log): sql "<query>" | --file PATH | - [--format table|json|csv]', load: () => import('./commands/sql.ts') },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: ipwatch <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    '`ipwatch <command> --help` for its options. Configuration is by environment:',
    ...Object.entries(CONFIG_VARIABLES).map(([k, v]) => `  ${k}: ${v}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    out(usage());
    return name ? 0 : ERRORS.IPWATCH_USAGE.exit;
  }
  const command = COMMANDS[name];
  if (!command) {
    info(`ipwatch: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return ERRORS.IPWATCH_USAGE.exit;
  }
  const mod = await command.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    out(mod.help);
    return 0;
  }
  try {
    return await mod.run(rest);
  } catch (err) {
    // Ours: the message says what to do; the registry says how to exit.
    if (isIpwatchError(err)) {
      info(`ipwatch ${name}: ${err.message}`);
      return exitCodeOf(err);
    }
    const e = err as Error & { code?: unknown };
    // node's parseArgs refusing an option: a usage error, with the command's help.
    if (typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS')) {
      info(`ipwatch ${name}: ${e.message}\n\n${mod.help}`);
      return ERRORS.IPWATCH_USAGE.exit;
    }
    // Not one of ours: the message, plus where it came from for the bug report.
    info(`ipwatch ${name}: ${e.message}`);
    const frames = e.stack?.split('\n').filter((l) => l.trimStart().startsWith('at ')).slice(0, 3);
    if (frames?.length) info(frames.join('\n'));
    return exitCodeOf(err);
  }
}
