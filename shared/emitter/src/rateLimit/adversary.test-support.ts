/**
 * The adversary the rate-limit stores are tested against (store.memory.test.ts on a test
 * clock, store.redis.test.ts on Redis's): arrival times that press on the bucketed window's
 * edges, and the checks every admitted sequence must pass.
 */
import assert from 'node:assert/strict';

/** A seeded generator in [0, 1) (a plain LCG: the same seed gives the same arrivals). */
export function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * The most admitted in any window of `windowMs`, sliding over the admitted times: two times
 * are in one window (t - W, t] when they are less than W apart. `slackMs` widens the window's
 * reach for times measured around the real ones (client-side brackets of server times).
 */
export function mostInAnyWindow(times: readonly number[], windowMs: number, slackMs = 0): { most: number; at: number } {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let at = Number.NaN;
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    // sorted[j..i] all lie within one window ending at sorted[i]
    while (sorted[i]! - sorted[j]! >= windowMs - slackMs) j++;
    if (i - j + 1 > most) {
      most = i - j + 1;
      at = sorted[j]!;
    }
  }
  return { most, at };
}

/** Asserts no window of W ever held more than the limit. */
export function assertNeverOver(times: readonly number[], limit: number, windowMs: number, what: string, slackMs = 0): void {
  const { most, at } = mostInAnyWindow(times, windowMs, slackMs);
  assert.ok(most <= limit, `${what}: ${most} admitted within ${windowMs} ms from ${at} (limit ${limit})`);
}

/**
 * Arrival-time patterns (ms from `start`, sorted) over `durationMs`, for a window of W cut into
 * N buckets and a limit L.
 */
export function patterns(start: number, durationMs: number, windowMs: number, buckets: number, limit: number): Array<{ name: string; times: number[] }> {
  const bucketMs = windowMs / buckets;
  const out: Array<{ name: string; times: number[] }> = [];
  const end = start + durationMs;
  // Bursts of 2L just before and just at every bucket edge (and so every window edge).
  const edges: number[] = [];
  for (let e = Math.ceil(start / bucketMs) * bucketMs; e < end; e += bucketMs) {
    for (let k = 0; k < 2 * limit; k++) edges.push(Math.floor(e) - 1, Math.ceil(e));
  }
  out.push({ name: 'bursts at every bucket edge', times: edges.sort((a, b) => a - b) });
  // The fixed-window attack: L at the very end of a window, L at the start of the next, repeated.
  const doubled: number[] = [];
  for (let e = Math.ceil(start / windowMs) * windowMs; e < end; e += windowMs) {
    for (let k = 0; k < limit; k++) doubled.push(e - 1 - k, e + k);
  }
  out.push({ name: 'twice the limit across window edges', times: doubled.sort((a, b) => a - b) });
  // Steady rates at and above the limit.
  for (const factor of [1, 1.1, 2, 10]) {
    const gap = windowMs / (limit * factor);
    const times: number[] = [];
    for (let t = start; t < end; t += gap) times.push(Math.floor(t));
    out.push({ name: `steady at ${factor}x the limit`, times });
  }
  // Random arrivals: uniform at 3x the limit, and clustered (bursts of up to 2L at random times).
  for (let seed = 1; seed <= 40; seed++) {
    const random = seeded(seed);
    const times: number[] = [];
    const n = Math.round((3 * limit * durationMs) / windowMs);
    for (let k = 0; k < n; k++) times.push(start + Math.floor(random() * durationMs));
    out.push({ name: `random seed ${seed}`, times: times.sort((a, b) => a - b) });
    const clustered: number[] = [];
    for (let k = 0; k < (2 * durationMs) / windowMs; k++) {
      const at = start + Math.floor(random() * durationMs);
      const size = 1 + Math.floor(random() * 2 * limit);
      for (let m = 0; m < size; m++) clustered.push(at + Math.floor(random() * 3));
    }
    out.push({ name: `clustered seed ${seed}`, times: clustered.sort((a, b) => a - b) });
  }
  return out;
}

/**
 * Fewest admitted that a steady stream with `gapMs` between requests must get over
 * `durationMs`: any span of W + W/N + L * gap holds L admissions (a refusal at t means the
 * N + 1 buckets counted, all within W + W/N before t, hold L; so the last L arrivals of such
 * a span cannot all be refused without L admitted in it).
 */
export function leastAdmitted(durationMs: number, windowMs: number, buckets: number, limit: number, gapMs: number): number {
  return limit * Math.floor(durationMs / (windowMs + windowMs / buckets + limit * gapMs));
}
