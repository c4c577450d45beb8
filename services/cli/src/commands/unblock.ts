import { actor, callApi, checkInput, describe, type ListRow } from './listCommon.ts';
import { out, info, UsageError } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';

export const help = `ipwatch unblock <ip|cidr> [--reason TEXT]
  Lifts a block on every app instance. The target must be written as it was blocked
  (\`ipwatch blocks\` lists them); an address inside a blocked range stays blocked until
  the range is unblocked. Recorded in block_events.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgsOnce(argv, { reason: { type: 'string' }, json: { type: 'boolean' } }, true);
  if (positionals.length > 1) throw new UsageError(`one target at a time (${positionals.length} given), written as \`ipwatch blocks\` lists it`);
  const target = positionals[0];
  checkInput(target, undefined, 'ipwatch unblock <ip|cidr>');
  const result = await callApi<{ record: ListRow; audited: boolean }>('DELETE', '/api/v1/blocks', { query: { target, reason: values.reason, actor: actor() } });
  if (values.json) out(JSON.stringify(result));
  else out(`unblocked ${describe(result.record)}`);
  if (!result.audited) info('warning: the block is lifted but this was not recorded in block_events (ClickHouse unreachable)');
  return 0;
}
