export { createClickhouseSink, SINK_GROUP, type ClickhouseSink, type ClickhouseSinkOptions } from './clickhouseSink.ts';
export { TABLE_MAPPINGS } from './tables.ts';

export { startSinkService, type SinkService } from './main.ts';
