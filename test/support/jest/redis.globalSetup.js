// See kafka.globalSetup.js for why this is JavaScript loading TypeScript through tsx.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { ensureRedis } = await tsImport('./ensureRedis.ts', import.meta.url);
  await ensureRedis();
}
