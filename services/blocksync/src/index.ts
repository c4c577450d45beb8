export { createBlocksync, type Blocksync, type BlocksyncOptions, type ListSyncState } from './blocksync.ts';
export { startBlocksyncService, type BlocksyncService } from './main.ts';
