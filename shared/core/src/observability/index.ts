/** Metrics, health and the /metrics + /healthz endpoint every ipwatch service exposes. */
export * from './metrics.ts';
export * from './health.ts';
export * from './server.ts';
export { metricsRefusal, LOOPBACK_ONLY, type MetricsAccess } from './access.ts';
export { trackConsumerLag } from './consumerLag.ts';
