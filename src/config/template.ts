// Handlebars rendering of commands and host names: no HTML escaping, strict variables, checked string helpers.
import Handlebars from 'handlebars';
import { camelCase, constantCase, kebabCase, pascalCase, snakeCase, trainCase } from 'change-case';
import { ConfigError, type Place } from '../errors.js';

type HelperFn = (...args: unknown[]) => string;

const engine = Handlebars.create();
// Handlebars' built-in `log` helper would swallow `{{log}}`, the log file a hook is given (issue 16):
// `{{log}}` is that value where there is one.
engine.registerHelper('log', (...args: unknown[]) => {
  const options = args[args.length - 1] as { data?: { root?: Record<string, unknown> } };
  const value = options.data?.root?.['log'];
  if (args.length === 1 && typeof value === 'string') return value;
  throw new Error('`{{log}}` is only given to hooks (the job\'s log file)');
});

/**
 * Registers a helper that takes exactly `arity` string (or number) arguments. A wrong count or a
 * non-string argument is an error naming the helper and how to call it.
 */
function stringHelper(name: string, usage: string, arity: number, fn: (...args: string[]) => string): void {
  const helper: HelperFn = (...args) => {
    const given = args.slice(0, -1); // the last argument is Handlebars' options object
    if (given.length !== arity) {
      throw new Error(`helper \`${name}\` takes ${arity} argument${arity === 1 ? '' : 's'} (${usage}), got ${given.length}`);
    }
    const strings = given.map((arg, i) => {
      if (typeof arg === 'string') return arg;
      if (typeof arg === 'number' || typeof arg === 'boolean') return String(arg);
      throw new Error(`helper \`${name}\` needs a string as argument ${i + 1} (${usage})`);
    });
    return fn(...strings);
  };
  engine.registerHelper(name, helper);
}

/** The string helpers, with the names Pegasus (handlebars_misc_helpers) users already know as aliases. */
const CASES: readonly (readonly [names: readonly string[], fn: (s: string) => string])[] = [
  [['lower', 'to_lower_case'], (s) => s.toLowerCase()],
  [['upper', 'to_upper_case'], (s) => s.toUpperCase()],
  [['snake_case', 'to_snake_case'], (s) => snakeCase(s)],
  [['screaming_snake_case', 'to_screaming_snake_case'], (s) => constantCase(s)],
  [['kebab_case', 'to_kebab_case'], (s) => kebabCase(s)],
  [['camel_case', 'to_camel_case'], (s) => camelCase(s)],
  [['pascal_case', 'to_pascal_case'], (s) => pascalCase(s)],
  [['train_case', 'to_train_case'], (s) => trainCase(s)],
  [['trim'], (s) => s.trim()],
  [['trim_start'], (s) => s.trimStart()],
  [['trim_end'], (s) => s.trimEnd()],
];
for (const [names, fn] of CASES) {
  for (const name of names) stringHelper(name, `{{${name} value}}`, 1, fn);
}
stringHelper('replace', '{{replace value "from" "to"}}', 3, (s, from, to) => s.split(from).join(to));

// `default` must accept a missing value, which strict mode forbids for plain variables; a
// sub-expression lookup of an absent key gives undefined without throwing.
engine.registerHelper('default', (...args: unknown[]) => {
  const given = args.slice(0, -1);
  if (given.length !== 2) {
    throw new Error(`helper \`default\` takes 2 arguments ({{default value "fallback"}}), got ${given.length}`);
  }
  const [value, fallback] = given;
  return value === undefined || value === null || value === '' ? String(fallback) : String(value);
});

/** The names of the helpers, for messages and the README. */
export const HELPER_NAMES: readonly string[] = [...CASES.flatMap(([names]) => names), 'replace', 'default'];

const compiled = new Map<string, HandlebarsTemplateDelegate>();

/** What a template belongs to, for error messages. */
export interface TemplateSite {
  /** "command" or "hostname". */
  readonly field: string;
  readonly place: Place;
  /** The sub-node the template was rendered for, when there is one ("node1 (gpu=0)"). */
  readonly subnode?: string;
}

/**
 * Renders a template with strict variables and no escaping. An unknown variable or a bad helper
 * call throws a ConfigError naming the template, its entry and the variables it may use.
 */
export function render(template: string, values: Readonly<Record<string, string>>, site: TemplateSite, data?: Readonly<Record<string, string | number>>): string {
  // Text without a mustache renders as itself; skipping Handlebars saves its per-call helper set-up (issue 7).
  if (!template.includes('{{')) return template;
  try {
    let fn = compiled.get(template);
    if (!fn) {
      fn = engine.compile(template, { noEscape: true, strict: true });
      compiled.set(template, fn);
    }
    return data ? fn(values, { data }) : fn(values);
  } catch (error) {
    throw templateError(error, template, values, site);
  }
}

function templateError(error: unknown, template: string, values: Readonly<Record<string, string>>, site: TemplateSite): ConfigError {
  const raw = error instanceof Error ? error.message : String(error);
  const known = Object.keys(values);
  const knownText = known.length ? known.map((k) => `\`${k}\``).join(', ') : 'none';
  const on = site.subnode ? ` on sub-node ${site.subnode}` : '';
  const missing = /^"([^"]+)" not defined in/.exec(raw);
  if (missing) {
    return new ConfigError(
      `The ${site.field} template \`${oneLine(template)}\` uses \`{{${missing[1]}}}\`, which is not defined${on}. Known variables: ${knownText}.`,
      {
        place: site.place,
        fix: `Add \`${missing[1]}\` as a parameter of the entry (or of the host in hosts.yaml), or fix the spelling.`,
        cause: error,
      },
    );
  }
  const helper = /^Missing helper: "?([^"]+)"?/.exec(raw);
  if (helper) {
    return new ConfigError(
      `The ${site.field} template \`${oneLine(template)}\` calls \`${helper[1]}\`, which is neither a helper nor a variable${on}. Known variables: ${knownText}.`,
      { place: site.place, fix: `Helpers: ${HELPER_NAMES.join(', ')}.`, cause: error },
    );
  }
  return new ConfigError(`The ${site.field} template \`${oneLine(template)}\` cannot be rendered${on}: ${raw.split('\n')[0]}.`, {
    place: site.place,
    fix: 'Check the {{ }} syntax (see the Templates section of the README).',
    cause: error,
  });
}

function oneLine(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' ⏎ ').trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}
