import { actor, callApi, checkInput, describe, printTable, type ListRow } from './listCommon.ts';
import { out, info, UsageError } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';
import { describeChanges, type EntryChange } from '../changeReport.ts';

export const help = `ipwatch allow <ip|cidr> [--reason TEXT] [--expires +7d|+12h|ISO-8601] [--force]
ipwatch allow --remove <ip|cidr>
ipwatch allow --list [--json]
  The allowlist: addresses and ranges that no block and no rate limit applies to (your
  office, your monitoring, your own proxies). Changes reach every app instance at once and
  are recorded in block_events. A range wider than /8 (IPv4) or /16 (IPv6) would exempt a
  large part of the internet from every block and limit: it needs --force.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgsOnce(
    argv,
    { reason: { type: 'string' }, expires: { type: 'string' }, remove: { type: 'boolean' }, list: { type: 'boolean' }, json: { type: 'boolean' }, force: { type: 'boolean' } },
    true,
  );
  if (positionals.length > 1) throw new UsageError(`one target at a time (${positionals.length} given): a range as a CIDR such as 203.0.113.0/24`);
  if (values.list) {
    if (positionals.length || values.remove) throw new UsageError('--list takes no target: ipwatch allow --list [--json]');
    const { rows, total } = await callApi<{ rows: ListRow[]; total: number }>('GET', '/api/v1/allowlist');
    if (values.json) out(JSON.stringify(rows));
    else {
      printTable(rows, false);
      info(total === 1 ? '1 allowlist entry' : `${total} allowlist entries`);
    }
    return 0;
  }
  const target = positionals[0];
  if (values.remove) {
    checkInput(target, undefined, 'ipwatch allow --remove <ip|cidr>');
    const result = await callApi<{ record: ListRow }>('DELETE', '/api/v1/allowlist', { query: { target, reason: values.reason, actor: actor() } });
    out(values.json ? JSON.stringify(result) : `removed ${describe(result.record)} from the allowlist`);
    return 0;
  }
  checkInput(target, values.expires, 'ipwatch allow <ip|cidr>');
  const result = await callApi<{ record: ListRow; replaced: boolean; changes?: EntryChange[] }>('POST', '/api/v1/allowlist', {
    body: { target, reason: values.reason, expires: values.expires, actor: actor(), ...(values.force && { force: true }) },
  });
  if (values.json) out(JSON.stringify(result));
  else if (!result.replaced) out(`allowed ${describe(result.record)}`);
  else out([`updated allowlist entry ${describe(result.record)}`, ...describeChanges(result.changes ?? []).map((l) => `  ${l}`)].join('\n'));
  return 0;
}
