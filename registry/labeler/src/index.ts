import { definePlugin } from '@plugline/sdk';

/** The comparison operators a rule's condition may use. */
export const operators = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'contains', 'regex', 'exists', 'not_exists'] as const;
export type Operator = (typeof operators)[number];

/** One condition: the property at `property` (a dot path into `event.properties`) compared with `value`. */
export interface Condition {
  property: string;
  operator: Operator;
  value?: unknown;
}

/** A rule: when the event name matches and every condition holds, the event gets `label`. */
export interface Rule {
  label: string;
  event?: string;
  conditions?: Condition[];
}

const conditionSchema = {
  type: 'object',
  required: ['property', 'operator'],
  additionalProperties: false,
  properties: {
    property: { type: 'string', minLength: 1, description: 'Dot path into event.properties, e.g. "$geoip_country_code" or "cart.total".' },
    operator: { enum: operators, description: 'How the property is compared with value.' },
    value: { description: 'The value to compare with (an array for "in", a pattern for "regex"; unused by exists/not_exists).' },
  },
} as const;

const ruleSchema = {
  type: 'object',
  required: ['label'],
  additionalProperties: false,
  properties: {
    label: { type: 'string', minLength: 1, description: 'The label to set when the rule matches.' },
    event: { type: 'string', minLength: 1, description: 'Event name to match; "*" matches any run of characters ("$page*"). Omit to match every event.' },
    conditions: { type: 'array', items: conditionSchema, default: [], description: 'Conditions that must all hold.' },
  },
} as const;

/** Reads a dot path from an object; `undefined` when any step is missing. */
export function readPath(source: unknown, path: string): unknown {
  if (typeof source === 'object' && source !== null && Object.hasOwn(source, path)) return (source as Record<string, unknown>)[path];
  let current = source;
  for (const segment of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

const escapeRegExp = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/** Compiles an event-name pattern where `*` matches any run of characters. */
export function eventPattern(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
}

const compare = (left: unknown, right: unknown, test: (a: number | string, b: number | string) => boolean) =>
  (typeof left === 'number' && typeof right === 'number') || (typeof left === 'string' && typeof right === 'string') ? test(left, right) : false;

/** Does one condition hold for these properties? */
export function conditionHolds(condition: Condition, properties: Record<string, unknown>, regex?: RegExp): boolean {
  const actual = readPath(properties, condition.property);
  const expected = condition.value;
  switch (condition.operator) {
    case 'exists':
      return actual !== undefined && actual !== null;
    case 'not_exists':
      return actual === undefined || actual === null;
    case 'eq':
      return JSON.stringify(actual) === JSON.stringify(expected);
    case 'neq':
      return JSON.stringify(actual) !== JSON.stringify(expected);
    case 'gt':
      return compare(actual, expected, (a, b) => a > b);
    case 'gte':
      return compare(actual, expected, (a, b) => a >= b);
    case 'lt':
      return compare(actual, expected, (a, b) => a < b);
    case 'lte':
      return compare(actual, expected, (a, b) => a <= b);
    case 'in':
      return Array.isArray(expected) && expected.some((candidate) => JSON.stringify(candidate) === JSON.stringify(actual));
    case 'contains':
      if (typeof actual === 'string') return typeof expected === 'string' && actual.includes(expected);
      return Array.isArray(actual) && actual.some((item) => JSON.stringify(item) === JSON.stringify(expected));
    case 'regex':
      return typeof actual === 'string' && (regex ?? new RegExp(String(expected))).test(actual);
  }
}

interface CompiledRule {
  rule: Rule;
  event: RegExp | undefined;
  regexes: (RegExp | undefined)[];
}

/**
 * Checks and compiles rules, or throws an error that names the rule and what is wrong with it. Done
 * once in `setupPlugin`, so a bad pattern fails loudly at install rather than silently per event.
 */
export function compileRules(rules: readonly Rule[]): CompiledRule[] {
  return rules.map((rule, index) => {
    const regexes = (rule.conditions ?? []).map((condition, conditionIndex) => {
      const where = `rules[${index}].conditions[${conditionIndex}]`;
      if (condition.operator === 'in' && !Array.isArray(condition.value)) throw new Error(`${where}: "in" needs an array value`);
      if (['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'contains', 'regex'].includes(condition.operator) && condition.value === undefined) {
        throw new Error(`${where}: "${condition.operator}" needs a value`);
      }
      if (condition.operator !== 'regex') return undefined;
      try {
        return new RegExp(String(condition.value));
      } catch (error) {
        throw new Error(`${where}: invalid regex ${JSON.stringify(condition.value)} (${(error as Error).message})`);
      }
    });
    return { rule, event: rule.event === undefined ? undefined : eventPattern(rule.event), regexes };
  });
}

/**
 * Sets a label property from rules in the config. Rules are tried in order: an event matches a rule when
 * its name matches the rule's `event` pattern (if any) and all the rule's conditions hold. By default the
 * first matching rule wins; with `multiple: true` every matching label is set, as an array.
 */
export default definePlugin({
  config: {
    type: 'object',
    properties: {
      rules: { type: 'array', items: ruleSchema, default: [], description: 'Rules, tried in order.' },
      property: { type: 'string', minLength: 1, default: 'label', description: 'The property that receives the label.' },
      multiple: {
        type: 'boolean',
        default: false,
        description: 'Set every matching label (an array) instead of the first match only.',
      },
      defaultLabel: { type: 'string', description: 'Label for events no rule matches; when unset they are left unlabeled.' },
    },
  },
  setupPlugin(meta) {
    meta.global.compiled = compileRules(meta.config.rules as Rule[]);
  },
  processEvent(event, { config, global, metrics }) {
    const compiled = (global.compiled as CompiledRule[] | undefined) ?? compileRules(config.rules as Rule[]);
    const labels: string[] = [];
    for (const { rule, event: pattern, regexes } of compiled) {
      if (pattern && !pattern.test(event.event)) continue;
      const conditions = rule.conditions ?? [];
      if (!conditions.every((condition, index) => conditionHolds(condition, event.properties, regexes[index]))) continue;
      labels.push(rule.label);
      if (!config.multiple) break;
    }
    if (labels.length === 0 && config.defaultLabel !== undefined) labels.push(config.defaultLabel);
    if (labels.length === 0) return event;
    event.properties[config.property] = config.multiple ? labels : labels[0];
    metrics.increment('labeled');
    return event;
  },
});
