/**
 * The JSON webhook's payloads, documented: what a receiver of IPWATCH_ALERT_WEBHOOK_URL gets
 * (`type` says which). render.ts builds them; they are plain data, never pre-escaped.
 */
import type { Severity } from '@ipwatch/core/schemas';
import type { AlertAction, AlertSubject, ChannelName } from './alert.ts';

/**
 * The JSON webhook's body for an alert (`type: 'alert'`). Plain data: strings are exactly as
 * detected (never HTML-escaped), so a receiver must escape them for whatever it renders.
 *
 * @example
 * {
 *   "type": "alert", "version": 1, "id": "d-sensitive-files-203.0.113.7-1764583200000",
 *   "ts": "2026-12-01T10:00:00.000Z", "kind": "detection", "severity": "high",
 *   "rule": "sensitive-files", "action": "blocked", "blockedUntil": "2026-12-01T11:00:00.000Z",
 *   "summary": "matching requests: 2 in 10m (more than 1)",
 *   "subjects": [{ "client": "203.0.113.7", "ip": "203.0.113.7", "network": "203.0.113.0/24",
 *                  "country": "FR", "asn": 16276, "org": "OVH SAS" }],
 *   "foldedBy": null, "evidence": { "trigger": "GET /.env -> 404", "samples": "10:00:00 GET /.env -> 404" },
 *   "actor": "scorer", "url": "https://dash.example.com/clients/203.0.113.7"
 * }
 */
export interface AlertPayload {
  type: 'alert';
  version: 1;
  /** The alert's stable id (also the X-Ipwatch-Delivery header): a receiver de-duplicates on it. */
  id: string;
  /** When it happened, ISO 8601 UTC. */
  ts: string;
  /** A detection by a rule, or a block made by hand or by import. */
  kind: 'detection' | 'block';
  severity: Severity;
  /** The rule's id, or a manual block's source. */
  rule: string;
  /** flagged, blocked, or dry-run (the rule only records: nothing was done). */
  action: AlertAction;
  /** For a block: when it ends (ISO 8601), null when it never does or nothing was blocked. */
  blockedUntil: string | null;
  summary: string;
  /** Every client the alert is about: one, or all addresses of a folded attack. */
  subjects: AlertSubject[];
  /** Set when several clients were folded into this alert: by their network or their ASN. */
  foldedBy: { by: 'network' | 'asn'; value: string } | null;
  /** The detection's evidence map: trigger, samples (one request a line), userAgents, statuses, usernames, ... */
  evidence: Record<string, string>;
  /** Who made it: 'scorer', or the api user of a manual block. */
  actor: string;
  /** The first client's page in the dashboard; null when the configured link is not http(s). */
  url: string | null;
}

/**
 * The JSON webhook's body for a digest (`type: 'digest'`): alerts folded into one message
 * because a channel was above its rate. `alerts` lists every one, oldest first.
 *
 * @example
 * { "type": "digest", "version": 1, "id": "digest-1764583200000", "ts": "2026-12-01T10:00:00.000Z",
 *   "severity": "high", "folded": 37, "limit": "10 alerts a minute", "url": "https://dash.example.com/detections",
 *   "alerts": [{ "id": "...", "rule": "path-scan", "severity": "high", "client": "203.0.113.7",
 *                "addresses": 1, "summary": "...", "action": "blocked", "url": "https://dash.example.com/clients/203.0.113.7" }] }
 */
export interface DigestPayload {
  type: 'digest';
  version: 1;
  id: string;
  ts: string;
  /** The highest severity among the folded alerts. */
  severity: Severity;
  /** How many alerts were folded into this digest. */
  folded: number;
  /** The rate that was exceeded, e.g. "10 alerts a minute". */
  limit: string;
  /** The dashboard's detections page (`<base>/detections`); null when the base is not http(s). */
  url: string | null;
  alerts: Array<{
    id: string;
    rule: string;
    severity: Severity;
    /** The client, or for a folded alert the network or ASN it was folded by. */
    client: string;
    /** How many addresses the alert is about (more than 1 when folded). */
    addresses: number;
    summary: string;
    action: AlertAction;
    url: string | null;
  }>;
}

/** The JSON webhook's body for `ipwatch alerts test` (`type: 'test'`): no client, nothing done. */
export interface TestPayload {
  type: 'test';
  version: 1;
  id: string;
  ts: string;
  severity: Severity;
  /** The channel the test was sent through. */
  channel: ChannelName;
  /** The host the alerter runs on. */
  host: string;
  message: string;
  url: string | null;
}
