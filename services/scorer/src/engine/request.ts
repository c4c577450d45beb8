/**
 * What the rules read of a request, worked out once per event and shared by every rule: the
 * path without its query, the query, the percent-decoded target, whether it is a static asset.
 * Every field is attacker-controlled: nothing here throws, and the text matched is bounded.
 */
import type { IpAnonymisation, LoginOutcome } from '@ipwatch/core/schemas';

/** The fields of a RequestEvent the scorer reads (an EnrichedRequest's `request` is one). */
export interface ScoredRequest {
  ts: number;
  ip: string;
  ipAnonymisation: IpAnonymisation;
  method: string;
  path: string;
  status: number;
  userAgent: string;
  blocked: boolean;
  login?: LoginOutcome;
  loginUser?: string | null;
}

/** Longest text a pattern is matched against; the emitter bounds paths already, this bounds the work. */
const MAX_MATCHED = 2048;

const STATIC_EXTENSIONS = new Set([
  'css', 'js', 'mjs', 'map', 'png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'avif', 'ico', 'bmp', 'tif', 'tiff',
  'woff', 'woff2', 'ttf', 'otf', 'eot', 'mp4', 'webm', 'mp3', 'ogg', 'wav', 'm4a', 'pdf', 'txt', 'xml', 'json', 'webmanifest',
]);

export class RequestView {
  private pathOnly: string | null = null;
  private queryText: string | null = null;
  private decodedTarget: string | null = null;
  private decodedPath: string | null = null;
  private staticAsset: boolean | null = null;

  /**
   * @param client what the request is scored as (its address, or its IPv6 network): an
   *   account rule counts the distinct clients failing on one username.
   */
  constructor(
    readonly r: ScoredRequest,
    readonly client: string = r.ip,
  ) {}

  /** The path without its query. */
  path(): string {
    if (this.pathOnly === null) {
      const q = this.r.path.indexOf('?');
      this.pathOnly = (q === -1 ? this.r.path : this.r.path.slice(0, q)).slice(0, MAX_MATCHED);
    }
    return this.pathOnly;
  }

  query(): string {
    if (this.queryText === null) {
      const q = this.r.path.indexOf('?');
      this.queryText = q === -1 ? '' : this.r.path.slice(q + 1, q + 1 + MAX_MATCHED);
    }
    return this.queryText;
  }

  /** Path and query, percent-decoded when they hold escapes (so %2e%2e%2f is seen as ../). */
  target(): string {
    if (this.decodedTarget === null) this.decodedTarget = decode(this.r.path.slice(0, MAX_MATCHED));
    return this.decodedTarget;
  }

  decodedPathOnly(): string {
    if (this.decodedPath === null) this.decodedPath = decode(this.path());
    return this.decodedPath;
  }

  /** A static asset (by extension): what a browser fetches for a page, counted apart from pages. */
  isStatic(): boolean {
    if (this.staticAsset === null) {
      const p = this.path();
      const slash = p.lastIndexOf('/');
      const dot = p.lastIndexOf('.');
      this.staticAsset = dot > slash && STATIC_EXTENSIONS.has(p.slice(dot + 1).toLowerCase());
    }
    return this.staticAsset;
  }
}

/** Percent-decodes what can be decoded; malformed escapes stay as they are. Twice, for double encoding. */
export function decode(text: string): string {
  if (!text.includes('%') && !text.includes('+')) return text;
  let out = text.replace(/\+/g, ' ');
  for (let round = 0; round < 2 && out.includes('%'); round++) {
    out = out.replace(/(%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        // Not UTF-8: decode byte by byte as Latin-1, which is enough to see ../ and quotes.
        return run.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
      }
    });
  }
  return out;
}
