/**
 * The markup of the rules pages: the table of rules with their switches, one rule's edit
 * form (its parameters with what each means), the switch buttons, and the "would have
 * caught" answer. Descriptions and parameters are text through `html` like everything else.
 */
import { describeAction, formatDuration, RULE_KINDS, RULE_PARAMS, type Rule, type RuleKind } from '@ipwatch/core/rules';
import type { RuleOrigin } from '@ipwatch/core/ruleBook';
import { html, type Html } from '../html.ts';
import { detectionsHref, ruleHref } from '../links.ts';
import { SEVERITY_CHOICES, targetHref, when } from './manageForms.ts';
import { paramField } from './ruleEdits.ts';
import type { WhatIf } from './ruleWhatIf.ts';

export const SWITCHES = ['enable', 'disable', 'dry-run', 'live'] as const;
export type Switch = (typeof SWITCHES)[number];

/** The switches that would change something, for a rule as it is. */
function switchesFor(rule: Rule): Switch[] {
  return [rule.enabled ? 'disable' : 'enable', rule.mode === 'live' ? 'dry-run' : 'live'];
}

export function switchButtons(rule: Rule, back: 'list' | 'rule'): Html {
  return html`${switchesFor(rule).map(
    (s) => html`<form method="post" action="${ruleHref(rule.id)}/${s}" class="inline"><input type="hidden" name="back" value="${back}"><button type="submit"${s === 'disable' ? html` class="danger"` : ''}>${s}</button></form> `,
  )}`;
}

export function rulesTable(rules: Array<{ rule: Rule; origin: RuleOrigin }>): Html {
  return html`<table class="rules"><tr><th>rule</th><th>kind</th><th>description</th><th class="num">window</th><th class="num">threshold</th><th>severity</th><th>mode</th><th>action</th><th>enabled</th><th>origin</th><th></th></tr>
${rules.map(
    ({ rule: r, origin }) => html`<tr${r.enabled ? '' : html` class="disabled"`}><td><a href="${ruleHref(r.id)}">${r.id}</a></td><td>${r.kind}</td><td class="text">${r.description}</td><td class="num">${formatDuration(r.windowMs)}</td><td class="num">${r.threshold}</td><td class="sev-${r.severity}">${r.severity}</td><td>${r.mode === 'dry_run' ? 'dry run' : 'live'}</td><td>${describeAction(r)}</td><td>${r.enabled ? 'yes' : 'no'}</td><td>${origin}</td><td class="switches">${switchButtons(r, 'list')}</td></tr>`,
  )}</table>`;
}

function input(name: string, label: string, values: Record<string, string>, hint: string): Html {
  return html`<label>${label} <input name="${name}" value="${values[name] ?? ''}"><span class="hint">${hint}</span></label>`;
}

/** One rule's form: Save (a post), and "would have caught" (a get: nothing is changed). */
export function ruleForm(rule: Rule, values: Record<string, string>): Html {
  const params = RULE_PARAMS[rule.kind as RuleKind] ?? {};
  return html`<form method="post" action="${ruleHref(rule.id)}" class="rule-form">
${input('window', 'Window', values, 'how far back it counts: 90s, 10m, 1h, up to 7d')}
${input('threshold', 'Threshold', values, 'it fires when the count is more than this (error_ratio: a share below 1)')}
<label>Severity <select name="severity">${SEVERITY_CHOICES.map((s) => html`<option value="${s}"${values.severity === s ? html` selected` : ''}>${s}</option>`)}</select></label>
<label>Action <select name="action"><option value="flag"${values.action === 'flag' ? html` selected` : ''}>flag (detect and alert)</option><option value="block"${values.action === 'block' ? html` selected` : ''}>block</option></select></label>
${input('block_for', 'Block for', values, 'a duration, or never (used when there is no escalation)')}
${input('escalation', 'Escalation', values, 'block durations for the 1st, 2nd, ... offence, e.g. 1h, 4h, 24h, 7d; or none')}
${input('quiet', 'Quiet', values, 'no second detection of one client for this long (0: the window)')}
${Object.entries(params).map(([name, spec]) => {
    const field = paramField(name);
    return name === 'patterns'
      ? html`<label>${name} <textarea name="${field}" rows="8">${values[field] ?? ''}</textarea><span class="hint">${spec.doc}</span></label>`
      : html`<label>${name} <input name="${field}" value="${values[field] ?? ''}"><span class="hint">${spec.doc} (empty: the default)</span></label>`;
  })}
<div class="buttons"><button type="submit" class="primary">Save (applied live)</button>
<button type="submit" formmethod="get" formaction="${ruleHref(rule.id)}" name="whatif" value="1">Would have caught (last 24 h)</button></div>
</form>`;
}

export function ruleSummary(rule: Rule, origin: RuleOrigin): Html {
  return html`<p class="text">${rule.description}</p>
<dl class="rule-facts"><dt>kind</dt><dd>${rule.kind}: ${RULE_KINDS[rule.kind as RuleKind] ?? ''}</dd>
<dt>state</dt><dd>${rule.enabled ? 'enabled' : 'disabled'}, ${rule.mode === 'dry_run' ? 'dry run' : 'live'}: ${describeAction(rule)}</dd>
<dt>origin</dt><dd>${origin}${rule.updatedBy && rule.updatedBy !== 'default' ? html`, last changed by ${rule.updatedBy} at ${when(rule.updatedAt)}` : ''}</dd>
<dt>detections</dt><dd><a href="${detectionsHref({ rule: rule.id })}">this rule's detections</a></dd></dl>
<div class="switch-row">${switchButtons(rule, 'rule')}<form method="post" action="${ruleHref(rule.id)}/reset" class="inline"><button type="submit">reset to the default</button></form></div>`;
}

export function whatIfAnswer(w: WhatIf, edited: boolean): Html {
  return html`<section class="whatif"><h2>Would have caught</h2>
<p>Over ${when(w.sinceMs)} to ${when(w.untilMs)}, the rule${edited ? ' as edited (not saved)' : ''} would have caught <b>${w.clients}</b> client(s) in <b>${w.detections}</b> detection(s), among ${w.requests} request(s) (${w.elapsedMs} ms). Nothing was recorded or blocked.</p>
${w.top.length ? html`<table><tr><th>client</th><th class="num">detections</th></tr>${w.top.map((c) => html`<tr><td><a class="addr" href="${targetHref(c.client)}">${c.client}</a></td><td class="num">${c.detections}</td></tr>`)}</table>${w.clients > w.top.length ? html`<p class="muted">The ${w.top.length} caught most often are listed.</p>` : ''}` : ''}
</section>`;
}
