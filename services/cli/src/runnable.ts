/** The services `ipwatch run <name>` starts as a process of its own (the distributed mode). */
export const RUNNABLE_SERVICES = ['enricher', 'sink', 'scorer', 'alerter', 'api', 'blocksync'] as const;
export type RunnableService = (typeof RUNNABLE_SERVICES)[number];
