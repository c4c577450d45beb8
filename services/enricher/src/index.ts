export { createEnricher, ENRICHER_GROUP, type Enricher, type EnricherOptions, type GeoSource } from './enricher.ts';
export { createGeoLookup } from './geo/index.ts';
export { startEnricherService } from './main.ts';
