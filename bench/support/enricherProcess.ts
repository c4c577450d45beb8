/** The enricher as its own process for bench:pipeline (as `ipwatch run enricher` would run it). */
import { loadConfig } from '@ipwatch/core/config';
import { createKafkaEventLog } from '@ipwatch/core/eventLog/kafka';
import { createMetrics } from '@ipwatch/core/observability/metrics';
import { createEnricher, createGeoLookup } from '@ipwatch/enricher';

const config = loadConfig();
const log = createKafkaEventLog({ brokers: config.kafka!.brokers, clientId: 'bench-enricher', logLevel: 'error' });
const geo = await createGeoLookup({ cacheSize: 100_000 });
const enricher = createEnricher({ log, geo, metrics: createMetrics('enricher') });
await enricher.start();
process.send?.('ready');
// The benchmark pauses the enricher (a stop; the group's offsets stay) to build a backlog.
process.on('message', (msg) => {
  if (msg === 'pause') void enricher.stop().then(() => process.send?.('paused'));
  if (msg === 'resume') void enricher.start();
  if (msg === 'cpu') process.send?.(process.cpuUsage());
});
process.on('SIGTERM', () => {
  void enricher.stop().then(() => log.close()).finally(() => process.exit(0));
});
