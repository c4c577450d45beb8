import { callApi, printTable, type ListRow } from './listCommon.ts';
import { out, info } from '../output.ts';
import { parseArgsOnce } from '../strictArgs.ts';

export const help = `ipwatch blocks [--covers IP] [--limit N] [--expired] [--json]
  Lists the blocks in force, newest first, with the time each has left.
  --covers IP  only the entries that apply to this address: the address itself and every
               range that holds it ("why is this client blocked?")
  --limit N    at most N rows (default 1000)
  --expired    include blocks whose expiry has passed (they no longer apply)
  --json       one JSON array, for scripts`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgsOnce(argv, { json: { type: 'boolean' }, expired: { type: 'boolean' }, covers: { type: 'string' }, limit: { type: 'string' } });
  const { rows, total } = await callApi<{ rows: ListRow[]; total: number }>('GET', '/api/v1/blocks', {
    query: { expired: values.expired ? 'true' : undefined, covers: values.covers, limit: values.limit },
  });
  if (values.json) {
    out(JSON.stringify(rows));
    return 0;
  }
  printTable(rows, true);
  const what = values.covers ? ` applying to ${values.covers}` : '';
  info(rows.length < total ? `${rows.length} of ${total} blocks${what} (--limit for more)` : total === 1 ? `1 block${what}` : `${total} blocks${what}`);
  return 0;
}
