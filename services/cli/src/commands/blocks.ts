import { parseArgs } from 'node:util';
import { callApi, printTable, type ListRow } from './listCommon.ts';
import { out, info } from '../output.ts';

export const help = `ipwatch blocks [--json] [--expired]
  Lists the blocks in force, newest first, with the time each has left.
  --expired   include blocks whose expiry has passed (they no longer apply)
  --json      one JSON array, for scripts`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, expired: { type: 'boolean' } }, strict: true });
  const { rows, total } = await callApi<{ rows: ListRow[]; total: number }>('GET', '/api/blocks', { query: { expired: values.expired ? 'true' : undefined } });
  if (values.json) {
    out(JSON.stringify(rows));
    return 0;
  }
  printTable(rows, true);
  info(total === 1 ? '1 block' : `${total} blocks`);
  return 0;
}
