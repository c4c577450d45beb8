/** The access-log formats `ipwatch replay` reads, and how it tells them apart. */
import { hasRefererAndAgent, parseCombinedLine, parseCommonLine, type ParseOptions, type ParsedLine } from './combinedLog.ts';
import { parseNginxJsonLine } from './nginxJson.ts';

export const LOG_FORMATS = ['combined', 'common', 'nginx-json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const PARSERS: Record<LogFormat, (line: string, options: ParseOptions) => ParsedLine> = {
  combined: parseCombinedLine,
  common: parseCommonLine,
  'nginx-json': parseNginxJsonLine,
};

export function isLogFormat(s: string): s is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(s);
}

/** Enough evidence: this many lines read in some format, or this many seen at all. */
const ENOUGH_PARSED = 10;
const ENOUGH_SEEN = 100;
const PROBE = { app: 'detect' };

export interface FormatDetector {
  /** Looks at one more line; true once there is enough evidence to decide. */
  add(line: string): boolean;
  /** The format from what was seen so far, or null when no line read in any format. */
  decide(): LogFormat | null;
}

/**
 * Decides the format from the first lines that parse: nginx-json when JSON lines read best,
 * else combined when any line has a referer and agent (combined reads common lines too), else
 * common. Blank lines are not evidence.
 *
 * @example
 * const d = createFormatDetector();
 * for (const line of firstLines) if (d.add(line)) break;
 * const format = d.decide() ?? 'combined';
 */
export function createFormatDetector(): FormatDetector {
  let seen = 0;
  let json = 0;
  let common = 0;
  let combined = 0;
  const decide = (): LogFormat | null => {
    if (json === 0 && common === 0) return null;
    if (json > common) return 'nginx-json';
    return combined > 0 ? 'combined' : 'common';
  };
  return {
    add(line) {
      if (line.trim() === '') return false;
      seen++;
      if (line.trimStart().startsWith('{')) {
        if (parseNginxJsonLine(line, PROBE).ok) json++;
      } else if (parseCombinedLine(line, PROBE).ok) {
        common++;
        if (hasRefererAndAgent(line)) combined++;
      }
      return json + common >= ENOUGH_PARSED || seen >= ENOUGH_SEEN;
    },
    decide,
  };
}
