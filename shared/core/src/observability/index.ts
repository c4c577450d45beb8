/** Metrics, health and the /metrics + /healthz endpoint every ipwatch service exposes. */
export * from './metrics.ts';
export * from './health.ts';
export * from './server.ts';
export { trackConsumerLag } from './consumerLag.ts';
