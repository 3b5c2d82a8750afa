// Which local commands run on which run events (issue 16): `.pegasus/hooks.yaml` beside the queue, and --on-* flags over it.
//
// Why that file: hooks belong to a queue's runs, like its journal and logs in `.pegasus/` beside it;
// hosts.yaml stays the plain list the original Pegasus reads, and one hosts file may serve queues
// that want different hooks.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isScalar } from 'yaml';
import { parseDuration } from '../config/duration.js';
import { render } from '../config/template.js';
import { kindOf, parseYaml, placeOf, scalarText } from '../config/yaml.js';
import { ConfigError, type Place } from '../errors.js';

export const HOOK_KINDS = ['on_failure', 'on_success', 'on_finish', 'on_idle', 'on_host_lost'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];

export const DEFAULT_HOOK_TIMEOUT_MS = 30_000;

/** One hook: a Handlebars template run with `sh -c`, given so long to finish. */
export interface Hook {
  readonly kind: HookKind;
  readonly command: string;
  readonly timeoutMs: number;
  /** Where it was given (the hooks file's line, or the flag). */
  readonly place: Place;
}

/** The hooks file of a queue. */
export function hooksFileOf(queueFile: string): string {
  return path.join(path.dirname(path.resolve(queueFile)), '.pegasus', 'hooks.yaml');
}

/** What the command line says: `--on-failure CMD` … and `--hook-timeout D`. */
export interface HookFlags {
  readonly commands: Partial<Record<HookKind, string>>;
  readonly timeout?: string;
}

/** The hooks of a run: the hooks file's, with each --on-* flag replacing that kind. */
export async function loadHooks(queueFile: string, flags: HookFlags): Promise<Hook[]> {
  const file = hooksFileOf(queueFile);
  const flagTimeout = flags.timeout === undefined ? undefined : parseDuration(flags.timeout);
  if (flags.timeout !== undefined && flagTimeout === undefined) {
    throw new ConfigError(`--hook-timeout ${flags.timeout} is not a duration.`, { fix: 'Write it like 30s, 2m or 500ms.' });
  }
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`Cannot read ${file}: ${(error as Error).message}.`, { place: { file }, fix: 'Make it readable, or remove it.' });
  }
  const fromFile = text === undefined ? [] : parseHooks(text, file);
  const hooks = new Map(fromFile.map((h) => [h.kind, h]));
  for (const kind of HOOK_KINDS) {
    const command = flags.commands[kind];
    if (command !== undefined) hooks.set(kind, { kind, command, timeoutMs: DEFAULT_HOOK_TIMEOUT_MS, place: { file: `--${kind.replace('_', '-')}` } });
  }
  const all = [...hooks.values()].map((h) => (flagTimeout === undefined ? h : { ...h, timeoutMs: flagTimeout }));
  for (const hook of all) checkTemplate(hook);
  return all;
}

/** What each kind of hook is given (job hooks also get the job's parameters). */
export const HOOK_VARIABLES: Readonly<Record<HookKind, readonly string[]>> = {
  on_failure: ['job', 'command', 'host', 'subnode', 'status', 'exit_code', 'signal', 'duration', 'attempt', 'log', 'queue', 'event'],
  on_success: ['job', 'command', 'host', 'subnode', 'status', 'exit_code', 'signal', 'duration', 'attempt', 'log', 'queue', 'event'],
  on_finish: ['job', 'command', 'host', 'subnode', 'status', 'exit_code', 'signal', 'duration', 'attempt', 'log', 'queue', 'event'],
  on_idle: ['queue', 'succeeded', 'failed', 'event'],
  on_host_lost: ['host', 'reason', 'message', 'queue', 'event'],
};

/** A hook whose variables are all known (on_idle, on_host_lost) is checked now: a misspelt one stops the run before it starts. */
function checkTemplate(hook: Hook): void {
  if (hook.kind !== 'on_idle' && hook.kind !== 'on_host_lost') return; // job hooks may use the job's parameters
  const sample = Object.fromEntries(HOOK_VARIABLES[hook.kind].map((k) => [k, 'x']));
  try {
    render(hook.command, sample, { field: hook.kind, place: hook.place });
  } catch (error) {
    throw new ConfigError((error as Error).message, { place: hook.place, fix: `An ${hook.kind} hook gets ${HOOK_VARIABLES[hook.kind].map((k) => `{{${k}}}`).join(', ')}.` });
  }
}

/**
 * Reads a hooks file:
 *
 *     timeout: 30s                       # for every hook (default 30s)
 *     on_failure: notify-send "job {{job}} failed" "{{command}}"
 *     on_idle: { command: "curl -sd @- https://…", timeout: 10s }
 */
export function parseHooks(text: string, file: string): Hook[] {
  const source = parseYaml(text, file);
  const root = source.doc.contents;
  if (root === null || (isScalar(root) && scalarText(root) === '')) return [];
  const fix = `Write a map such as \`on_failure: notify-send "job {{job}} failed"\`; it knows ${HOOK_KINDS.map((k) => `\`${k}\``).join(', ')} and \`timeout\`.`;
  if (!isMap(root)) throw new ConfigError(`The hooks file ${file} must be a map, but its top level is ${kindOf(root)}.`, { place: placeOf(source, root), fix });
  const durationOf = (node: unknown, where: Place): number => {
    const value = scalarText(node);
    const ms = value === undefined ? undefined : parseDuration(value);
    if (ms === undefined) throw new ConfigError(`A hook's \`timeout\` is \`${value ?? kindOf(node)}\`, which is not a duration.`, { place: where, fix: 'Write it like 30s, 2m or 500ms.' });
    return ms;
  };
  let timeoutMs = DEFAULT_HOOK_TIMEOUT_MS;
  const found: { kind: HookKind; command: string; timeoutMs?: number; place: Place }[] = [];
  for (const pair of root.items) {
    const key = scalarText(pair.key);
    const place = placeOf(source, isScalar(pair.key) ? pair.key : undefined);
    if (key === 'timeout') {
      timeoutMs = durationOf(pair.value, place);
      continue;
    }
    if (!HOOK_KINDS.includes(key as HookKind)) throw new ConfigError(`The hooks file has an unknown key \`${key ?? kindOf(pair.key)}\`.`, { place, fix });
    const kind = key as HookKind;
    if (isMap(pair.value)) {
      let command: string | undefined;
      let own: number | undefined;
      for (const inner of pair.value.items) {
        const name = scalarText(inner.key);
        const at = placeOf(source, isScalar(inner.key) ? inner.key : undefined);
        if (name === 'command') command = scalarText(inner.value);
        else if (name === 'timeout') own = durationOf(inner.value, at);
        else throw new ConfigError(`\`${kind}\` has an unknown key \`${name ?? kindOf(inner.key)}\`.`, { place: at, fix: `A hook is a command, or a map of \`command\` and \`timeout\`. ${fix}` });
      }
      if (!command) throw new ConfigError(`\`${kind}\` has no \`command\`.`, { place, fix: `Give the command to run, e.g. \`${kind}: { command: "notify-send done", timeout: 10s }\`.` });
      found.push({ kind, command, ...(own === undefined ? {} : { timeoutMs: own }), place });
    } else {
      const command = scalarText(pair.value);
      if (!command) throw new ConfigError(`\`${kind}\` is ${kindOf(pair.value)}; it must be a command.`, { place, fix });
      found.push({ kind, command, place });
    }
  }
  return found.map((h) => ({ kind: h.kind, command: h.command, timeoutMs: h.timeoutMs ?? timeoutMs, place: h.place }));
}
