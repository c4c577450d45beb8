import { actor, callApi, checkInput, describe, type ListRow } from './listCommon.ts';
import { readFileSync } from 'node:fs';
import { parseBlockTarget, parseExpiry } from '@ipwatch/core/blockTarget';
import { out, info, printable, UsageError } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';
import { describeChanges, type EntryChange } from '../changeReport.ts';

export const help = `ipwatch block <ip|cidr> [--reason TEXT] [--expires +7d|+12h|+30m|ISO-8601] [--severity low|medium|high|critical] [--force]
ipwatch block --from-file FILE [--reason TEXT] [--expires ...] [--severity ...] [--force]
  Blocks an address or a range (IPv4 or IPv6) on every app instance: requests from it get 403.
  Without --expires the block lasts until \`ipwatch unblock\`. Blocking a target that is
  already blocked replaces its entry: the output says what its expiry and reason were and
  what they become. Recorded in block_events. A target with a port (1.2.3.4:80) is refused:
  a block applies to every port.
  --force      block a range wider than /16 (IPv4) or /32 (IPv6) by default, or one holding
               loopback, private or link-local addresses (IPWATCH_BLOCK_MAX_PREFIX_V4/_V6 set the widths)
  --from-file imports a list (one IP or CIDR a line; blank lines and # comments are
  skipped; source "import"); a list with any invalid line, or (without --force) any range
  that sweeps as above, is refused whole, naming them.
  Examples:
    ipwatch block 203.0.113.7 --reason "credential stuffing" --expires +7d
    ipwatch block 2001:db8:bad::/48 --expires 2026-12-31T23:59:59Z`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgsOnce(
    argv,
    { reason: { type: 'string' }, expires: { type: 'string' }, severity: { type: 'string' }, json: { type: 'boolean' }, 'from-file': { type: 'string' }, force: { type: 'boolean' } },
    true,
  );
  if (values['from-file'] !== undefined) {
    if (positionals.length) throw new UsageError('give either a target or --from-file, not both');
    return importFile(values['from-file'], values);
  }
  // Refused, not trimmed to the first: "block 1.2.3.4 80" must not quietly block something else than meant.
  if (positionals.length > 1) throw new UsageError(`one target at a time (${positionals.slice(0, 3).map((p) => JSON.stringify(printable(p))).join(', ')} given): a range as a CIDR such as 203.0.113.0/24, or a list with --from-file`);
  const target = positionals[0];
  checkInput(target, values.expires, 'ipwatch block <ip|cidr>');
  const result = await callApi<{ record: ListRow; replaced: boolean; changes?: EntryChange[]; audited: boolean }>('POST', '/api/v1/blocks', {
    body: { target, reason: values.reason, expires: values.expires, severity: values.severity, actor: actor(), ...(values.force && { force: true }) },
  });
  if (values.json) out(JSON.stringify(result));
  else if (!result.replaced) out(`blocked ${describe(result.record)}`);
  else out([`updated block of ${describe(result.record)}`, ...describeChanges(result.changes ?? []).map((l) => `  ${l}`)].join('\n'));
  if (result.record.target.includes(':') && !result.record.target.includes('/')) {
    // An IPv6 host usually holds a whole /64: one address of it is trivially swapped for another.
    info(`note: ${result.record.target} is one IPv6 address; its owner most likely has the whole /64 (block that range to stop address rotation)`);
  }
  if (!result.audited) info('warning: the block is in force but was not recorded in block_events (ClickHouse unreachable); see the api log');
  return 0;
}

/** Reads a block list file, checks every line here (so errors name line numbers), and sends it in one import. */
async function importFile(file: string, values: { reason?: string; expires?: string; severity?: string; json?: boolean; force?: boolean }): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (values.expires !== undefined) parseExpiry(values.expires);
  const targets: string[] = [];
  const bad: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    try {
      targets.push(parseBlockTarget(line));
    } catch (err) {
      bad.push(`line ${i + 1}: ${(err as Error).message}`);
    }
  });
  if (bad.length) throw new UsageError(`nothing imported: ${bad.length} line(s) of ${file} are not IPs or CIDRs:\n  ${bad.slice(0, 20).map(printable).join('\n  ')}${bad.length > 20 ? '\n  ...' : ''}`);
  if (targets.length === 0) throw new UsageError(`${file} holds no IP or CIDR (one a line; # starts a comment)`);
  const result = await callApi<{ imported: number; replaced: number; audited: boolean }>('POST', '/api/v1/blocks/import', {
    body: { targets, reason: values.reason, expires: values.expires, severity: values.severity, actor: actor(), ...(values.force && { force: true }) },
  });
  out(values.json ? JSON.stringify(result) : `imported ${result.imported} blocks (${result.replaced} replaced existing ones)`);
  if (!result.audited) info('warning: the blocks are in force but were not recorded in block_events (ClickHouse unreachable)');
  return 0;
}
