export { createClickhouseSink, SINK_GROUP, type ClickhouseSink, type ClickhouseSinkOptions } from './clickhouseSink.ts';
export { SINK_TOPICS } from './tables.ts';

export { startSinkService, type SinkService } from './main.ts';
