/**
 * The rules pages: `GET /rules` (every rule, its window, threshold, severity, mode, action,
 * and switches) and `GET /rules/:id` (one rule: its edit form, the switches enable / disable /
 * dry-run / live, reset, and "would have caught": the rule as edited run over the last day
 * of stored requests, on request since it reads the whole day). Changes go to the rules
 * topic as the JSON rules API's do, so every scorer applies them live.
 */
import type { Request, Response, Router } from 'express';
import { IpwatchError } from '@ipwatch/core/errors';
import type { Rule } from '@ipwatch/core/rules';
import type { RulesApiOptions } from '../../rulesApi.ts';
import { readQuery } from '../../queryParameters.ts';
import type { DashboardDeps } from '../router.ts';
import { viewerOf } from '../access.ts';
import { html, href, type Html } from '../html.ts';
import { sendPage, type PageOptions } from '../layout.ts';
import { ruleHref } from '../links.ts';
import { doneFlash, field, refusal } from './manageForms.ts';
import { editedRule, resetRule, ruleFormNames, ruleFormValues, saveRule } from './ruleEdits.ts';
import { ruleForm, rulesTable, ruleSummary, SWITCHES, whatIfAnswer, type Switch } from './ruleView.ts';
import { createWhatIfRunner, type WhatIfRunner } from './ruleWhatIf.ts';
import type { WhatIf } from './ruleWhatIf.ts';

const NO_RULES = 'This api runs without the event log, so it cannot show or change the detection rules: use the api of `ipwatch dev` or `ipwatch run api`.';
const SWITCH_FIELDS: Record<Switch, Partial<Rule>> = { enable: { enabled: true }, disable: { enabled: false }, 'dry-run': { mode: 'dry_run' }, live: { mode: 'live' } };
const SWITCH_DONE: Record<Switch, string> = { enable: 'enabled', disable: 'disabled', 'dry-run': 'dry-run', live: 'live' };

function rulesOf(deps: DashboardDeps): RulesApiOptions {
  if (!deps.rules) throw new IpwatchError('IPWATCH_LISTS_UNAVAILABLE', NO_RULES);
  return deps.rules;
}

/** The rule of the path, or the registry's "no such rule" (404, with the ids to try). */
function ruleOf(rules: RulesApiOptions, id: string): Rule {
  const rule = rules.rules.book.get(id);
  if (!rule) throw new IpwatchError('IPWATCH_NO_SUCH_RULE', `no rule has the id ${JSON.stringify(id.slice(0, 64))}: the rules page lists them`);
  return rule;
}

function renderList(res: Response, deps: DashboardDeps, flash: PageOptions['flash'], status = 200): void {
  if (!deps.rules) return sendPage(res, { title: 'Rules', active: 'rules', body: html`<p class="flash error">${NO_RULES}</p>` }, 503);
  const { book } = deps.rules.rules;
  const rules = book.rules().map((rule) => ({ rule, origin: book.origin(rule.id) ?? 'custom' }));
  const body = html`<p class="muted">${rules.length} rules. A rule fires when its count is more than its threshold within its window; a change is applied by every scorer within a second. Open a rule to edit it and see how many clients it would have caught over the last day.</p>
${rulesTable(rules)}`;
  sendPage(res, { title: 'Rules', active: 'rules', body, flash }, status);
}

interface RuleRender {
  /** The form's values (the rule's own, or as edited). */
  values?: Record<string, string>;
  whatIf?: { answer: WhatIf; edited: boolean } | null;
  /** A what-if is running, for so many seconds: the page reloads itself until the answer is there. */
  running?: number;
  flash?: PageOptions['flash'];
  status?: number;
}

function renderRule(res: Response, rules: RulesApiOptions, rule: Rule, r: RuleRender = {}): void {
  const origin = rules.rules.book.origin(rule.id) ?? 'custom';
  const body: Html = html`${ruleSummary(rule, origin)}
<h2>Parameters</h2>
${ruleForm(rule, r.values ?? ruleFormValues(rule))}
${r.whatIf ? whatIfAnswer(r.whatIf.answer, r.whatIf.edited) : r.running !== undefined ? html`<section class="whatif"><h2>Would have caught</h2><p class="running">Running over the last 24 hours of requests (${r.running} s so far): this page reloads itself every few seconds until the answer is there (reload it without JavaScript).</p></section>` : html`<p class="muted">"Would have caught" runs the rule, as the form says, over every request of the last 24 hours with the scorer's engine (nothing is recorded or blocked); on a busy site that takes minutes, so it runs when asked, in the background, one at a time; an answer is kept 10 minutes.</p>`}
<p><a href="/rules">All rules</a></p>`;
  sendPage(res, { title: `Rule ${rule.id}`, active: 'rules', body, flash: r.flash ?? null, ...(r.running !== undefined && { refreshSeconds: 3 }) }, r.status ?? 200);
}

/** The posted (or queried) form values the rule's form takes. */
function formOf(rule: Rule, source: Record<string, unknown>): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of ruleFormNames(rule)) {
    const v = source[name];
    if (typeof v === 'string') values[name] = v;
  }
  return values;
}

async function getRule(req: Request, res: Response, deps: DashboardDeps, whatIfs: WhatIfRunner): Promise<void> {
  const rules = rulesOf(deps);
  const rule = ruleOf(rules, String(req.params.id));
  let q: Partial<Record<string, string>>;
  try {
    q = readQuery(req.query, ['whatif', 'done', ...ruleFormNames(rule)], 'a rule\'s page');
    if (q.whatif !== undefined && q.whatif !== '1') throw new IpwatchError('IPWATCH_BAD_FILTER', 'whatif must be 1 (run the rule over the last day)');
  } catch (err) {
    return renderRule(res, rules, rule, refusal(err));
  }
  const form = formOf(rule, q);
  const edited = Object.keys(form).length > 0;
  const values = { ...ruleFormValues(rule), ...form };
  if (q.whatif !== '1') return renderRule(res, rules, rule, { values, flash: doneFlash(q.done) });
  let candidate: Rule;
  try {
    candidate = editedRule(rule, form, viewerOf(res).caller, deps.now());
  } catch (err) {
    return renderRule(res, rules, rule, { values, ...refusal(err) });
  }
  const asked = whatIfs.ask(candidate);
  if (asked.state === 'busy') return renderRule(res, rules, rule, { values, flash: { kind: 'error', text: 'Another "would have caught" is running (each reads a whole day of requests): try again in a few seconds.' }, status: 429 });
  if (asked.state === 'failed') return renderRule(res, rules, rule, { values, flash: { kind: 'error', text: asked.message }, status: 500 });
  if (asked.state === 'running') return renderRule(res, rules, rule, { values, running: Math.round((deps.now() - asked.startedAt) / 1000) });
  const { answer } = asked;
  renderRule(res, rules, rule, { values, whatIf: { answer, edited: edited && JSON.stringify({ ...candidate, updatedAt: 0, updatedBy: '' }) !== JSON.stringify({ ...rule, updatedAt: 0, updatedBy: '' }) } });
}

export function registerRules(router: Router, deps: DashboardDeps): void {
  router.get('/rules', (req, res) => {
    try {
      const q = readQuery(req.query, ['done'], 'the rules page');
      renderList(res, deps, doneFlash(q.done));
    } catch (err) {
      const bad = refusal(err);
      renderList(res, deps, bad.flash, bad.status);
    }
  });

  const whatIfs = createWhatIfRunner({ store: deps.analytics, now: deps.now, warn: deps.warn });
  router.get('/rules/:id', (req, res) => getRule(req, res, deps, whatIfs));

  router.post('/rules/:id', async (req, res) => {
    const rules = rulesOf(deps);
    const rule = ruleOf(rules, String(req.params.id));
    const form = formOf(rule, (req.body ?? {}) as Record<string, unknown>);
    let done: string;
    try {
      const next = editedRule(rule, form, viewerOf(res).caller, deps.now());
      done = (await saveRule(rules, rule, next)).changes.length ? 'saved' : 'unchanged';
    } catch (err) {
      return renderRule(res, rules, rule, { values: { ...ruleFormValues(rule), ...form }, ...refusal(err) });
    }
    res.redirect(303, href(ruleHref(rule.id), { done }));
  });

  for (const s of SWITCHES) {
    router.post(`/rules/:id/${s}`, async (req, res) => {
      const rules = rulesOf(deps);
      const rule = ruleOf(rules, String(req.params.id));
      const caller = viewerOf(res).caller;
      await saveRule(rules, rule, { ...rule, ...SWITCH_FIELDS[s], updatedAt: deps.now(), updatedBy: caller.name });
      res.redirect(303, field(req, 'back') === 'list' ? href('/rules', { done: SWITCH_DONE[s] }) : href(ruleHref(rule.id), { done: SWITCH_DONE[s] }));
    });
  }

  router.post('/rules/:id/reset', async (req, res) => {
    const rules = rulesOf(deps);
    const id = String(req.params.id);
    ruleOf(rules, id);
    await resetRule(rules, id, viewerOf(res).caller);
    // A custom rule is gone once reset: back to the list.
    res.redirect(303, rules.rules.book.get(id) ? href(ruleHref(id), { done: 'reset' }) : href('/rules', { done: 'reset' }));
  });
}
