/**
 * Detection rules as data: what each kind of rule means, its parameters and their checks, and
 * the default rule set (the successor of the Django app's AnomalyDetectionConfig). A rule
 * travels as a Rule record on the compacted rules topic (key: its id); the scorer evaluates
 * it (services/scorer), the api and `ipwatch rules` change it. This module is the one place
 * that says what a valid rule is, so a rule the api accepted is one every scorer can run.
 *
 * Every rule fires when its figure is MORE than its threshold within its window (a sliding
 * window over event time): `hourly-volume` with threshold 100 fires on the 101st page
 * request within an hour, `scanner-user-agent` with threshold 0 on the first request.
 */
import { codecs, DecodeError, SCHEMA_HEADER, type Rule, type RuleMode, type Severity } from './schemas.ts';
import { IpwatchError } from './errors.ts';

export type { Rule, RuleMode, Severity } from './schemas.ts';

export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
export const RULE_MODES: readonly RuleMode[] = ['live', 'dry_run'];

/** What a rule of each kind counts. The scorer has one evaluator per kind. */
export const RULE_KINDS = {
  request_rate: 'requests of a client (pages, static assets or all) in the window',
  error_ratio: 'the share of a client\'s requests answered with an error status (at least minRequests of them) in the window',
  path_match: 'requests whose path, query or user agent matches one of the patterns (optionally only those answered with given statuses)',
  distinct_paths: 'distinct paths a client requested that were answered with the given statuses (404/403: scanning) in the window',
  login_failures: 'failed login attempts of a client (as the app reports them) in the window',
  distinct_usernames: 'distinct usernames in a client\'s failed login attempts (credential stuffing) in the window',
  account_failures: 'failed logins naming one username, from all clients together (at least minClients of them), in the window: one account attacked from many addresses',
} as const;
export type RuleKind = keyof typeof RULE_KINDS;

/**
 * What a rule counts per: a client (its address, or its IPv6 network), or an account (the
 * username a failed login named, whichever client sent it). The scorer owns accounts as it
 * owns clients, by partition: failed logins are re-keyed by username onto the logins topic.
 */
export function ruleScope(rule: Pick<Rule, 'kind'>): 'client' | 'account' {
  return rule.kind === 'account_failures' ? 'account' : 'client';
}

/**
 * A username as accounts are counted: one person, one account, as the rate limiter's
 * per-username key folds it (compatibility forms folded with NFKC as Django does, invisible
 * characters dropped, case ignored), so rotating the forms of one name (Ａｄｍｉｎ, admin,
 * ad\u200bmin) does not split its count. Bounded.
 */
export function accountOf(username: string): string {
  return username.slice(0, 1024).normalize('NFKC').replace(/\p{Default_Ignorable_Code_Point}/gu, '').trim().toLowerCase().slice(0, 128);
}

interface ParamSpec {
  /** What it means, for `ipwatch rules show` and the README. */
  doc: string;
  /** Returns an error message, or null when the value is fine. */
  check(value: string): string | null;
}

const MAX_PATTERNS = 200;
const MAX_PATTERN_LENGTH = 500;

const bool: ParamSpec['check'] = (v) => (v === 'true' || v === 'false' ? null : 'must be true or false');
const wholeNumber: ParamSpec['check'] = (v) => (/^\d{1,9}$/.test(v) ? null : 'must be a whole number');

/** Parses a status list such as "404,403" or "4xx,5xx" into a predicate. */
export function parseStatuses(text: string): (status: number) => boolean {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  const exact = new Set<number>();
  const classes = new Set<number>();
  for (const p of parts) {
    if (/^[1-5]xx$/i.test(p)) classes.add(Number(p[0]));
    else if (/^[1-5]\d\d$/.test(p)) exact.add(Number(p));
    else throw new RuleError(`status ${JSON.stringify(p.slice(0, 20))} is neither a status (404) nor a class (4xx)`);
  }
  if (parts.length === 0) throw new RuleError('the status list is empty');
  return (s) => exact.has(s) || classes.has(Math.floor(s / 100));
}

const statuses: ParamSpec['check'] = (v) => {
  try {
    parseStatuses(v);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
};

/** Splits a patterns parameter (one regular expression per line) and compiles each, case-insensitive. */
export function parsePatterns(text: string): RegExp[] {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) throw new RuleError('patterns is empty: give one regular expression per line');
  if (lines.length > MAX_PATTERNS) throw new RuleError(`patterns has ${lines.length} lines; at most ${MAX_PATTERNS}`);
  return lines.map((l) => {
    if (l.length > MAX_PATTERN_LENGTH) throw new RuleError(`a pattern is ${l.length} characters long; at most ${MAX_PATTERN_LENGTH}`);
    // Nested quantifiers such as (a+)+ can take exponential time on a hostile path.
    if (/\([^)]*[+*][^)]*\)[+*{]/.test(l)) throw new RuleError(`pattern ${JSON.stringify(l.slice(0, 60))} nests a quantifier inside a repeated group, which a hostile path can make take forever; rewrite it without the nesting`);
    try {
      return new RegExp(l, 'i');
    } catch (err) {
      throw new RuleError(`pattern ${JSON.stringify(l.slice(0, 60))} is not a regular expression: ${(err as Error).message}`);
    }
  });
}

const patterns: ParamSpec['check'] = (v) => {
  try {
    parsePatterns(v);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
};

const pathList: ParamSpec['check'] = (v) => (v.split(',').every((p) => p.trim() === '' || p.trim().startsWith('/')) ? null : 'must be paths starting with /, separated by commas');

const COMMON_PARAMS: Record<string, ParamSpec> = {
  exemptCrawlers: { doc: 'true: a client whose user agent claims a known search-engine crawler, verified by reverse then forward DNS, is not detected (volume rules)', check: bool },
  ignorePaths: { doc: 'path prefixes not counted, comma-separated (a page\'s own API polling, health checks)', check: pathList },
};

/** The parameters each kind takes (beyond windowMs and threshold). */
export const RULE_PARAMS: Record<RuleKind, Record<string, ParamSpec>> = {
  request_rate: {
    count: { doc: 'pages (not static assets), static (assets only) or all', check: (v) => (['pages', 'static', 'all'].includes(v) ? null : 'must be pages, static or all') },
    ...COMMON_PARAMS,
  },
  error_ratio: {
    minRequests: { doc: 'requests in the window before the ratio is judged', check: wholeNumber },
    statuses: { doc: 'what an error is: statuses or classes, comma-separated (default 4xx,5xx)', check: statuses },
    ...COMMON_PARAMS,
  },
  path_match: {
    field: { doc: 'what is matched: path (without query), query, target (path and query) or userAgent', check: (v) => (['path', 'query', 'target', 'userAgent'].includes(v) ? null : 'must be path, query, target or userAgent') },
    patterns: { doc: 'regular expressions, one per line, case-insensitive; the path is also matched percent-decoded', check: patterns },
    statuses: { doc: 'count only requests answered with these statuses, comma-separated (e.g. 4xx); default: any', check: statuses },
    ignorePaths: COMMON_PARAMS.ignorePaths as ParamSpec,
  },
  distinct_paths: {
    statuses: { doc: 'count paths answered with these statuses (default 404,403)', check: statuses },
    ignorePaths: COMMON_PARAMS.ignorePaths as ParamSpec,
  },
  login_failures: {},
  distinct_usernames: {},
  account_failures: {
    minClients: { doc: 'distinct clients the failures must come from before the figure is judged (default 3; 1 counts a single client too)', check: wholeNumber },
  },
};

export class RuleError extends IpwatchError {
  override readonly name = 'RuleError';
  constructor(message: string) {
    super('IPWATCH_INVALID_RULE', message);
  }
}

export const RULE_ID = /^[a-z][a-z0-9-]{0,62}$/;
const MIN_WINDOW_MS = 1000;
const MAX_WINDOW_MS = 7 * 24 * 3600 * 1000;

/**
 * Checks a rule as the api receives it; throws RuleError naming the field and what it takes.
 * The scorer runs the same check on every record of the rules topic (a bad one goes to the DLQ).
 */
export function validateRule(rule: Rule): Rule {
  const where = `rule ${JSON.stringify(String(rule.id).slice(0, 64))}`;
  if (typeof rule.id !== 'string' || !RULE_ID.test(rule.id)) throw new RuleError(`${where}: the id must be lower case letters, digits and dashes, starting with a letter, at most 63 characters`);
  if (typeof rule.kind !== 'string' || !Object.hasOwn(RULE_KINDS, rule.kind)) throw new RuleError(`${where}: kind ${JSON.stringify(String(rule.kind).slice(0, 40))} is not one of ${Object.keys(RULE_KINDS).join(', ')}`);
  if (!Number.isInteger(rule.windowMs) || rule.windowMs < MIN_WINDOW_MS || rule.windowMs > MAX_WINDOW_MS) throw new RuleError(`${where}: the window must be from 1s to 7d (got ${rule.windowMs} ms)`);
  if (!Number.isFinite(rule.threshold) || rule.threshold < 0) throw new RuleError(`${where}: the threshold must be a number of at least 0`);
  if (rule.kind === 'error_ratio' && rule.threshold >= 1) throw new RuleError(`${where}: an error_ratio threshold is a share below 1 (0.5 is half)`);
  if (!SEVERITIES.includes(rule.severity)) throw new RuleError(`${where}: severity must be one of ${SEVERITIES.join(', ')}`);
  if (!RULE_MODES.includes(rule.mode)) throw new RuleError(`${where}: mode must be live or dry_run`);
  if (rule.blockForMs !== null && (!Number.isInteger(rule.blockForMs) || rule.blockForMs < 1000)) throw new RuleError(`${where}: blockFor must be at least 1s, or null for a block that never expires`);
  if (rule.escalation.length > 10 || rule.escalation.some((d) => !Number.isInteger(d) || d < 1000)) throw new RuleError(`${where}: escalation is up to 10 durations of at least 1s each`);
  if (!Number.isInteger(rule.escalationMemoryMs) || rule.escalationMemoryMs < 0) throw new RuleError(`${where}: escalationMemory must be a duration`);
  if (!Number.isInteger(rule.quietMs) || rule.quietMs < 0) throw new RuleError(`${where}: quiet must be a duration (0: the window)`);
  if (rule.description.length > 500) throw new RuleError(`${where}: the description is over 500 characters`);
  const specs = RULE_PARAMS[rule.kind as RuleKind];
  for (const [name, value] of Object.entries(rule.params)) {
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) {
      const known = Object.keys(specs);
      throw new RuleError(`${where}: a rule of kind ${rule.kind} takes no parameter ${JSON.stringify(name.slice(0, 40))}${known.length ? ` (it takes ${known.join(', ')})` : ' (it takes none)'}`);
    }
    const problem = spec.check(value);
    if (problem) throw new RuleError(`${where}: parameter ${name} ${problem}`);
  }
  if (rule.kind === 'path_match' && rule.params.patterns === undefined) throw new RuleError(`${where}: a path_match rule needs the parameter patterns`);
  return rule;
}

/** Block durations, in ms, for the 1st, 2nd, ... offence; the last repeats. */
export function blockDurationFor(rule: Pick<Rule, 'escalation' | 'blockForMs'>, offence: number): number | null {
  if (rule.escalation.length === 0) return rule.blockForMs;
  return rule.escalation[Math.min(Math.max(offence, 1), rule.escalation.length) - 1] as number;
}

/** What a rule does when it fires, in words: "flag", "block 1h, then 4h, 24h, 7d", "dry run (would block 1h)". */
export function describeAction(rule: Pick<Rule, 'autoBlock' | 'blockForMs' | 'escalation' | 'mode'>): string {
  const block = rule.escalation.length ? `block ${rule.escalation.map(formatDuration).join(', then ')}` : `block ${rule.blockForMs === null ? 'for good' : formatDuration(rule.blockForMs)}`;
  const action = rule.autoBlock ? block : 'flag';
  return rule.mode === 'dry_run' ? `dry run (records; would ${action})` : action;
}

export function formatDuration(ms: number): string {
  const units: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  for (const [u, n] of units) if (ms % n === 0 && ms >= n) return `${ms / n}${u}`;
  return `${ms}ms`;
}

const M = 60_000;
const H = 60 * M;
const D = 24 * H;
const LADDER = [1 * H, 4 * H, 24 * H, 7 * D];

type RuleDefaults = Omit<Rule, 'updatedAt' | 'updatedBy' | 'enabled' | 'mode' | 'escalationMemoryMs' | 'quietMs' | 'blockForMs' | 'escalation' | 'params'> &
  Partial<Pick<Rule, 'enabled' | 'mode' | 'escalationMemoryMs' | 'quietMs' | 'blockForMs' | 'escalation' | 'params'>>;

function rule(r: RuleDefaults): Rule {
  return {
    enabled: true,
    mode: 'live',
    escalationMemoryMs: 30 * D,
    quietMs: 0,
    blockForMs: r.autoBlock && !r.escalation ? 1 * H : null,
    escalation: [],
    params: {},
    updatedAt: 0,
    updatedBy: 'default',
    ...r,
  };
}

const lines = (...ps: string[]) => ps.join('\n');

/**
 * The default rules. Every parameter can be tuned with `ipwatch rules set`; `ipwatch rules
 * reset <id>` brings one back to what is written here.
 */
export const DEFAULT_RULES: readonly Rule[] = Object.freeze([
  // The Django app's three, and short bursts.
  rule({
    id: 'hourly-volume', kind: 'request_rate', windowMs: 1 * H, threshold: 100, severity: 'low', autoBlock: false,
    description: 'More than 100 page requests in an hour (static assets not counted; verified crawlers exempt). The Django app\'s rule; a flag, not a block.',
    params: { count: 'pages', exemptCrawlers: 'true' },
  }),
  rule({
    id: 'burst', kind: 'request_rate', windowMs: 10_000, threshold: 50, severity: 'high', autoBlock: true, escalation: [10 * M, 1 * H, 24 * H],
    description: 'More than 50 page requests in 10 seconds: a flood, not a reader (static assets not counted; verified crawlers exempt).',
    params: { count: 'pages', exemptCrawlers: 'true' },
  }),
  rule({
    id: 'static-flood', kind: 'request_rate', windowMs: 1 * M, threshold: 3000, severity: 'medium', autoBlock: true, escalation: [10 * M, 1 * H, 24 * H],
    description: 'More than 3000 static-asset requests in a minute: far beyond any page\'s images, scripts and styles.',
    params: { count: 'static', exemptCrawlers: 'true' },
  }),
  rule({
    id: 'error-ratio', kind: 'error_ratio', windowMs: 1 * H, threshold: 0.5, severity: 'medium', autoBlock: false,
    description: 'More than half of a client\'s requests in an hour answered with an error (at least 20 requests). The Django app\'s rule; a flag.',
    params: { minRequests: '20', statuses: '4xx,5xx' },
  }),
  rule({
    id: 'sensitive-paths', kind: 'path_match', windowMs: 1 * H, threshold: 5, severity: 'low', autoBlock: false,
    description: 'More than 5 requests in an hour for admin, configuration or backup paths. The Django app\'s rule; a flag.',
    params: { field: 'path', patterns: lines('^/admin(/|$)', '^/config', '^/backup', '^/wp-admin', '^/\\.env', '^/phpmyadmin') },
  }),
  // Probing and scanning.
  rule({
    id: 'sensitive-files', kind: 'path_match', windowMs: 10 * M, threshold: 1, severity: 'high', autoBlock: true, escalation: LADDER,
    description: 'More than one request in 10 minutes for files no visitor asks for: /.env, /.git/, backups, wp-config.php, keys.',
    params: {
      field: 'path',
      patterns: lines(
        '/\\.env(\\.|$)', '/\\.git(/|$)', '/\\.svn(/|$)', '/\\.hg(/|$)', '/\\.DS_Store$', '/\\.aws/', '/\\.ssh/', '/id_(rsa|dsa|ecdsa|ed25519)',
        '/wp-config\\.php', '/\\.htpasswd', '/\\.htaccess', '\\.(bak|old|orig|swp|sql|sqlite)$',
        // Archives only under names that say backup or dump: a release tarball is an ordinary download.
        '/(backup|backups|bak|dump|db|database|site|www|web|wwwroot|public_html|html|htdocs|data)[^/]*\\.(zip|tar|tgz|gz|7z|rar)$', '/web\\.config$', '/server-status',
        '/config\\.(json|ya?ml|php|inc)$', '/(docker-compose|dockerfile)', '/phpinfo\\.php',
      ),
    },
  }),
  rule({
    id: 'cms-probe', kind: 'path_match', windowMs: 10 * M, threshold: 2, severity: 'medium', autoBlock: true, escalation: LADDER,
    description: 'More than 2 requests in 10 minutes for CMS logins and admin tools this site does not have (answered 4xx): /wp-login.php, /wp-admin, /phpmyadmin, /administrator. A site running WordPress answers those 200, so its own admins are not counted.',
    params: { field: 'path', statuses: '4xx', patterns: lines('^/wp-login\\.php', '^/wp-admin', '^/xmlrpc\\.php', '^/(phpmyadmin|pma|myadmin|phpMyAdmin)', '^/administrator', '^/wp-content/plugins/', '^/wp-includes/', '^/admin\\.php', '^/user/login', '^/vendor/phpunit', '^/cgi-bin/', '^/boaform', '^/HNAP1') },
  }),
  rule({
    id: 'injection', kind: 'path_match', windowMs: 10 * M, threshold: 1, severity: 'high', autoBlock: true, escalation: LADDER,
    description: 'More than one request in 10 minutes carrying path traversal, SQL injection or script injection in the path or query.',
    params: {
      field: 'target',
      patterns: lines(
        '\\.\\./', '\\.\\.\\\\', '/etc/(passwd|shadow|hosts)', 'win\\.ini', 'boot\\.ini', '\\bunion\\b[^a-z]{1,20}(all[^a-z]{1,20})?select\\b', '\\bselect\\b.{1,100}\\bfrom\\b.{1,100}\\bwhere\\b',
        '\'\\s*or\\s*\'?\\d+\'?\\s*=\\s*\'?\\d+', '\\b(sleep|benchmark|pg_sleep)\\s*\\(', '\\bwaitfor\\s+delay\\b', 'information_schema', '<\\s*script', 'javascript:', '\\bon(error|load|mouseover)\\s*=',
        '<\\s*(img|svg|iframe)\\b', '\\$\\{jndi:', '\\x00', '\\bbase64_decode\\(', '\\beval\\(', '/proc/self/',
      ),
    },
  }),
  rule({
    id: 'scanner-user-agent', kind: 'path_match', windowMs: 10 * M, threshold: 0, severity: 'high', autoBlock: true, escalation: [24 * H, 7 * D],
    description: 'A request from a known vulnerability scanner\'s user agent (sqlmap, nikto, nuclei, masscan, ...).',
    params: {
      field: 'userAgent',
      patterns: lines('sqlmap', 'nikto', 'nmap', 'masscan', 'zgrab', 'nuclei', 'wpscan', 'dirbuster', 'gobuster', 'feroxbuster', '\\bffuf\\b', 'acunetix', 'nessus', 'openvas', 'w3af', 'netsparker', 'whatweb', 'jaeles', 'wfuzz', 'havij', 'zmeu', 'morfeus', 'censysinspect', 'commix'),
    },
  }),
  rule({
    id: 'path-scan', kind: 'distinct_paths', windowMs: 5 * M, threshold: 20, severity: 'high', autoBlock: true, escalation: LADDER,
    description: 'More than 20 distinct paths answered 404 or 403 in 5 minutes: someone guessing URLs.',
    params: { statuses: '404,403' },
  }),
  // Login abuse.
  rule({
    id: 'login-failures', kind: 'login_failures', windowMs: 10 * M, threshold: 10, severity: 'medium', autoBlock: true, escalation: [15 * M, 1 * H, 24 * H],
    description: 'More than 10 failed logins from one client in 10 minutes: password guessing.',
  }),
  rule({
    id: 'credential-stuffing', kind: 'distinct_usernames', windowMs: 10 * M, threshold: 4, severity: 'high', autoBlock: true, escalation: LADDER,
    description: 'Failed logins for more than 4 different usernames from one client in 10 minutes: a list of stolen credentials being tried.',
  }),
  rule({
    id: 'account-attack', kind: 'account_failures', windowMs: 10 * M, threshold: 5, severity: 'high', autoBlock: false,
    description: 'More than 5 failed logins for one username in 10 minutes from at least 3 different clients: one account attacked from many addresses, each staying under login-failures. A flag naming the account and the clients; with its action set to block, each client taking part is blocked.',
    params: { minClients: '3' },
  }),
]);

export function defaultRule(id: string): Rule | undefined {
  return DEFAULT_RULES.find((r) => r.id === id);
}

/** The message that sets a rule on the rules topic (key: its id). */
export function ruleMessage(rule: Rule) {
  return { key: rule.id, value: codecs.Rule.encode(rule), headers: { [SCHEMA_HEADER]: 'Rule' } };
}

/** The tombstone that deletes a rule (a default rule then comes back as written in DEFAULT_RULES). */
export function ruleRemoval(id: string, actor: string) {
  return { key: id, value: null, headers: { 'ipwatch-actor': actor } };
}

/**
 * The rules in force: the defaults, overridden by the topic's records (a record for a
 * default's id replaces it; a tombstone brings the default back), plus user rules.
 */
export function effectiveRules(topicRules: ReadonlyMap<string, Rule>): Rule[] {
  const out = new Map<string, Rule>(DEFAULT_RULES.map((r) => [r.id, r]));
  for (const [id, r] of topicRules) out.set(id, r);
  return [...out.values()];
}

/**
 * Decodes one record of the rules topic: the rule, or null for a tombstone. Throws DecodeError
 * for one no scorer can run (no key, bytes that are not a Rule, a key that is not its id, a
 * rule that fails validateRule): those go to the DLQ and the other rules keep working.
 */
export function decodeRuleRecord(m: { topic: string; key: string | null; value: Buffer | null }): { id: string; rule: Rule | null } {
  if (m.key === null) throw new DecodeError(`${m.topic}: a record without a key`);
  if (m.value === null) return { id: m.key, rule: null };
  const rule = codecs.Rule.decode(m.value);
  if (rule.id !== m.key) throw new DecodeError(`${m.topic}: rule ${JSON.stringify(rule.id.slice(0, 64))} under key ${JSON.stringify(m.key.slice(0, 64))}`);
  try {
    validateRule(rule);
  } catch (err) {
    throw new DecodeError(`${m.topic}: ${(err as Error).message}`);
  }
  return { id: m.key, rule };
}
