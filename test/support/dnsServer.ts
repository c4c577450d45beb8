/**
 * A tiny authoritative DNS server on loopback UDP for tests: it answers PTR, A and AAAA
 * questions from a table, NXDOMAIN for anything else, and can be told to stay silent so a
 * client times out. It counts every question it receives. Packets are encoded by hand
 * (RFC 1035, section 4): a 12-byte header, the question echoed back, answers without
 * name compression.
 *
 * @example
 * const dns = await startDnsServer({
 *   ptr: { '66.249.66.1': ['crawl-66-249-66-1.googlebot.com'] },
 *   a: { 'crawl-66-249-66-1.googlebot.com': ['66.249.66.1'] },
 * });
 * const resolver = new Resolver();
 * resolver.setServers([dns.address]);   // '127.0.0.1:<port>'
 * dns.silent = true;                    // from now on no answer: the client times out
 * dns.queries;                          // [{ type: 'PTR', name: '1.66.249.66.in-addr.arpa' }, ...]
 * await dns.close();
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { parseIp } from '@ipwatch/core/ip';

export interface DnsTable {
  /** An address (IPv4 or IPv6, any spelling) -> the names its PTR records give. */
  ptr?: Record<string, string[]>;
  /** A name -> its IPv4 addresses. */
  a?: Record<string, string[]>;
  /** A name -> its IPv6 addresses. */
  aaaa?: Record<string, string[]>;
}

export interface DnsQuestion {
  /** 'A', 'AAAA', 'PTR', or 'TYPE<n>' for any other type. */
  type: string;
  /** The name asked about, lower-cased, no trailing dot. */
  name: string;
}

export interface TestDnsServer {
  readonly port: number;
  /** '127.0.0.1:<port>', as `Resolver.setServers` takes it. */
  readonly address: string;
  /** Every question received, in order (also while silent). */
  readonly queries: readonly DnsQuestion[];
  /** When true, questions are counted but never answered. */
  silent: boolean;
  close(): Promise<void>;
}

const TYPE = { A: 1, PTR: 12, AAAA: 28 } as const;
const TYPE_NAMES: Record<number, string> = { 1: 'A', 12: 'PTR', 28: 'AAAA' };
const CLASS_IN = 1;
const TTL_SECONDS = 60;

/** The name a PTR question for this address asks about: 1.66.249.66.in-addr.arpa, or 32 nibbles .ip6.arpa. */
export function reverseName(address: string): string {
  const ip = parseIp(address);
  if (!ip) throw new Error(`dnsServer: ${JSON.stringify(address)} is not an IP address`);
  if (ip.version === 4) {
    const v = Number(ip.value);
    return `${v & 255}.${(v >>> 8) & 255}.${(v >>> 16) & 255}.${v >>> 24}.in-addr.arpa`;
  }
  return [...ip.value.toString(16).padStart(32, '0')].reverse().join('.') + '.ip6.arpa';
}

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l !== '');
  if (labels.some((l) => l.length > 63)) throw new Error(`dnsServer: ${JSON.stringify(name)} has a label longer than 63 bytes`);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

function addressBytes(address: string, version: 4 | 6): Buffer {
  const ip = parseIp(address);
  if (!ip || ip.version !== version) throw new Error(`dnsServer: ${JSON.stringify(address)} is not an IPv${version} address`);
  return Buffer.from(ip.value.toString(16).padStart(version === 4 ? 8 : 32, '0'), 'hex');
}

/** Reads the first question of a query: its name, type, and where the question section ends. */
function readQuestion(msg: Buffer): { name: string; type: number; end: number } | null {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return null;
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    const len = msg[at];
    if (len === undefined || len > 63) return null; // queries carry no compression pointers
    at += 1;
    if (len === 0) break;
    labels.push(msg.subarray(at, at + len).toString('ascii').toLowerCase());
    at += len;
  }
  if (at + 4 > msg.length) return null;
  return { name: labels.join('.'), type: msg.readUInt16BE(at), end: at + 4 };
}

function answerRecord(type: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(12);
  fixed.writeUInt16BE(0xc00c, 0); // a pointer to the question's name at offset 12
  fixed.writeUInt16BE(type, 2);
  fixed.writeUInt16BE(CLASS_IN, 4);
  fixed.writeUInt32BE(TTL_SECONDS, 6);
  fixed.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([fixed, rdata]);
}

export async function startDnsServer(table: DnsTable, options: { silent?: boolean } = {}): Promise<TestDnsServer> {
  const lower = (r: Record<string, string[]> | undefined) => new Map(Object.entries(r ?? {}).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), v]));
  const ptr = new Map(Object.entries(table.ptr ?? {}).map(([ip, names]) => [reverseName(ip), names]));
  const a = lower(table.a);
  const aaaa = lower(table.aaaa);

  const answersFor = (name: string, type: number): Buffer[] => {
    if (type === TYPE.PTR) return (ptr.get(name) ?? []).map((n) => answerRecord(type, encodeName(n)));
    if (type === TYPE.A) return (a.get(name) ?? []).map((ip) => answerRecord(type, addressBytes(ip, 4)));
    if (type === TYPE.AAAA) return (aaaa.get(name) ?? []).map((ip) => answerRecord(type, addressBytes(ip, 6)));
    return [];
  };

  const queries: DnsQuestion[] = [];
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const port = socket.address().port;
  const server: TestDnsServer = {
    port,
    address: `127.0.0.1:${port}`,
    queries,
    silent: options.silent ?? false,
    async close() {
      socket.close();
      await once(socket, 'close');
    },
  };

  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    const q = readQuestion(msg);
    if (!q) return;
    queries.push({ type: TYPE_NAMES[q.type] ?? `TYPE${q.type}`, name: q.name });
    if (server.silent) return;
    const answers = answersFor(q.name, q.type);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0); // the query's id
    const rd = msg.readUInt16BE(2) & 0x0100;
    // QR (a response), AA (authoritative), RD echoed, RA; RCODE 3 (NXDOMAIN) when there is nothing to say.
    header.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080 | (answers.length ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, msg.subarray(12, q.end), ...answers]), from.port, from.address);
  });
  return server;
}
