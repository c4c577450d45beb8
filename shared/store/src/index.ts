export { openAnalytics, type Analytics } from './analytics.ts';
export { migrate, loadMigrations, MIGRATIONS_DIR, type Migration, type MigrateResult } from './migrate.ts';
export { parseRequestFilter, parseTimeBound, ipColumnRange, FilterError, MAX_LIMIT, type RequestFilter, type RequestFilterInput } from './queries/requestFilter.ts';
export { listRequests, type RequestRow } from './queries/listRequests.ts';
export { countRequests } from './queries/countRequests.ts';
export { insertBlockEvent, listBlockEvents, type BlockEventRow, type BlockEventAction } from './queries/blockEvents.ts';
