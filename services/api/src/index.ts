export { createApiApp, type ApiOptions } from './apiServer.ts';
export { startApiService, type ApiService } from './main.ts';
