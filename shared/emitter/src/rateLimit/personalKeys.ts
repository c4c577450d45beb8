/**
 * Which rate-limit store keys are about a person (a privacy export or erasure): the keys are
 * `<prefix><rule>:<limitKey>`, the limitKey an address, an IPv6 network, `user:<id>` or
 * `login-user:<name>` (limitKey.ts), and a rule's prefix may itself hold colons
 * ('ipwatch:rl:dashboard:login:').
 */
import { subjectCovers, type PrivacySubject } from '@ipwatch/core/dataSubject';
import { parseIp } from '@ipwatch/core/ip';
import { keyPart, usernameKey } from './limitKey.ts';

/** The address or network a key counts, or null: the first ':'-separated tail that reads as one. */
function keyAddress(key: string): string | null {
  for (let i = key.indexOf(':'); i !== -1; i = key.indexOf(':', i + 1)) {
    const tail = key.slice(i + 1);
    const slash = tail.indexOf('/');
    if (parseIp(slash === -1 ? tail : tail.slice(0, slash)) !== null) return tail;
  }
  return null;
}

/**
 * Whether a rate-limit store key counts the subject: its address (or a network holding it, or
 * inside its range), or its user id or username.
 *
 * @example
 * limitKeyConcerns('ipwatch:rl:anonymous:203.0.113.7', parseSubject({ ip: '203.0.113.7' }));            // true
 * limitKeyConcerns('ipwatch:rl:login:login-user:alice', parseSubject({ user: 'Alice' }));              // true
 * limitKeyConcerns('ipwatch:rl:anonymous:2001:db8:1:2::/64', parseSubject({ ip: '2001:db8:1:2::9' })); // true
 */
export function limitKeyConcerns(key: string, subject: PrivacySubject): boolean {
  if (subject.kind === 'user') {
    const ends = [`:user:${keyPart(subject.text)}`, `:${usernameKey(subject.text)}`];
    return ends.some((e) => key.endsWith(e));
  }
  const address = keyAddress(key);
  return address !== null && subjectCovers(subject, address);
}
