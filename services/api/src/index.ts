export { createApiApp, type ApiOptions } from './apiServer.ts';
export { startApiService, type ApiService, type ApiServiceOptions } from './main.ts';
export type { Caller } from './authentication.ts';
export { createPrivacyService, type PrivacyService, type PrivacyRequest } from './privacy/service.ts';
export { createSqlService, type SqlService, type SqlAnswer } from './sql/service.ts';
