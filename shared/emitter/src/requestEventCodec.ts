/**
 * A RequestEvent as the bytes that go on the wire (codecs.RequestEvent's Avro), encoded the
 * cheap way: this runs once per request in every app.
 */
import { codecs, SCHEMA_HEADER, type RequestEvent } from '@ipwatch/core/schemas';

const requestEventType = codecs.RequestEvent.type;
let scratch = Buffer.allocUnsafe(8192);

/**
 * codecs.RequestEvent's Avro type, written into one reusable scratch buffer and copied out to a
 * pooled Buffer.allocUnsafe slice: the same bytes as codecs.RequestEvent.encode (avsc's
 * toBuffer), which allocates a fresh zero-filled ArrayBuffer per event, far costlier to
 * allocate and to collect than a slice of node's 8 KB pool.
 */
export function encodeRequestEvent(event: RequestEvent): Buffer {
  let end = requestEventType.encode(event, scratch, 0);
  if (end < 0) {
    // avsc returns minus the bytes missing: grow once and write again
    scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end));
    end = requestEventType.encode(event, scratch, 0);
  }
  const out = Buffer.allocUnsafe(end);
  scratch.copy(out, 0, 0, end);
  return out;
}

/** The header every RequestEvent message carries, shared (the event logs copy headers). */
export const MESSAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({ [SCHEMA_HEADER]: 'RequestEvent' });
