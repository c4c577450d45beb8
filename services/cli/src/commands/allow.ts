import { parseArgs } from 'node:util';
import { actor, callApi, checkInput, describe, printTable, type ListRow } from './listCommon.ts';
import { out, info, UsageError } from '../output.ts';

export const help = `ipwatch allow <ip|cidr> [--reason TEXT] [--expires +7d|+12h|ISO-8601]
ipwatch allow --remove <ip|cidr>
ipwatch allow --list [--json]
  The allowlist: addresses and ranges that no block and no rate limit applies to (your
  office, your monitoring, your own proxies). Changes reach every app instance at once and
  are recorded in block_events.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { reason: { type: 'string' }, expires: { type: 'string' }, remove: { type: 'boolean' }, list: { type: 'boolean' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.list) {
    if (positionals.length || values.remove) throw new UsageError('--list takes no target: ipwatch allow --list [--json]');
    const { rows, total } = await callApi<{ rows: ListRow[]; total: number }>('GET', '/api/allowlist');
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
    const result = await callApi<{ record: ListRow }>('DELETE', '/api/allowlist', { query: { target, reason: values.reason, actor: actor() } });
    out(values.json ? JSON.stringify(result) : `removed ${describe(result.record)} from the allowlist`);
    return 0;
  }
  checkInput(target, values.expires, 'ipwatch allow <ip|cidr>');
  const result = await callApi<{ record: ListRow; replaced: boolean }>('POST', '/api/allowlist', {
    body: { target, reason: values.reason, expires: values.expires, actor: actor() },
  });
  out(values.json ? JSON.stringify(result) : `${result.replaced ? 'updated allowlist entry' : 'allowed'} ${describe(result.record)}`);
  return 0;
}
