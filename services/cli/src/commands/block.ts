import { parseArgs } from 'node:util';
import { actor, callApi, checkInput, describe, type ListRow } from './listCommon.ts';
import { out, info } from '../output.ts';

export const help = `ipwatch block <ip|cidr> [--reason TEXT] [--expires +7d|+12h|+30m|ISO-8601] [--severity low|medium|high|critical]
  Blocks an address or a range (IPv4 or IPv6) on every app instance: requests from it get 403.
  Without --expires the block lasts until \`ipwatch unblock\`. Blocking a target that is
  already blocked replaces its entry (new reason, new expiry). Recorded in block_events.
  Examples:
    ipwatch block 203.0.113.7 --reason "credential stuffing" --expires +7d
    ipwatch block 2001:db8:bad::/48 --expires 2026-12-31T23:59:59Z`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { reason: { type: 'string' }, expires: { type: 'string' }, severity: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 1) info(`ipwatch block: one target at a time; blocking ${positionals[0]} only`);
  const target = positionals[0];
  checkInput(target, values.expires, 'ipwatch block <ip|cidr>');
  const result = await callApi<{ record: ListRow; replaced: boolean; audited: boolean }>('POST', '/api/blocks', {
    body: { target, reason: values.reason, expires: values.expires, severity: values.severity, actor: actor() },
  });
  if (values.json) out(JSON.stringify(result));
  else out(`${result.replaced ? 'updated block of' : 'blocked'} ${describe(result.record)}`);
  if (result.record.target.includes(':') && !result.record.target.includes('/')) {
    // An IPv6 host usually holds a whole /64: one address of it is trivially swapped for another.
    info(`note: ${result.record.target} is one IPv6 address; its owner most likely has the whole /64 (block that range to stop address rotation)`);
  }
  if (!result.audited) info('warning: the block is in force but was not recorded in block_events (ClickHouse unreachable); see the api log');
  return 0;
}
