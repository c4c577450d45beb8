import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { run, help } from './replay.ts';

test('replay refuses --follow with --shift-to-now, and an unknown --format, saying why', async () => {
  await assert.rejects(run(['x.log', '--follow', '--shift-to-now']), {
    code: 'IPWATCH_USAGE',
    message: /^--follow and --shift-to-now do not go together: .*a followed log has no last line yet/,
  });
  await assert.rejects(run(['x.log', '--format', 'apache']), { code: 'IPWATCH_USAGE', message: /^--format "apache" is not one of combined, common, nginx-json/ });
  await assert.rejects(run(['--follow']), { code: 'IPWATCH_USAGE', message: /say which log to replay/ });
});

test('--help names every format and the nginx-json keys read', () => {
  for (const word of ['--format', 'combined', 'common', 'nginx-json', '--follow', 'remote_addr', 'msec', 'time_iso8601', 'time_local', 'request_method', 'request_uri', 'body_bytes_sent', 'bytes_sent', 'request_time', 'http_user_agent', 'http_referer', 'remote_user', 'http_host']) {
    assert.ok(help.includes(word), word);
  }
});
