// Parameter lists and their cartesian expansion: the one function that turns host entries into sub-nodes and queue entries into jobs.
import { isMap, isScalar, isSeq, type YAMLMap } from 'yaml';
import { ConfigError, type Place } from '../errors.js';
import { excerptAt, kindOf, placeOf, scalarText, type YamlSource } from './yaml.js';

/** One key of an entry with the values it sweeps over, in file order. */
export interface Param {
  readonly key: string;
  readonly values: readonly string[];
  readonly place: Place;
}

/** One value per key, in the order the keys were written. */
export type Binding = readonly (readonly [key: string, value: string])[];

/**
 * The cartesian product of the parameters: keys in the given order, the LAST key varying fastest
 * (DESIGN invariant 7: same input, same order).
 */
export function cartesian(params: readonly Param[]): Binding[] {
  let out: Binding[] = [[]];
  for (const param of params) {
    const next: Binding[] = [];
    for (const partial of out) {
      for (const value of param.values) next.push([...partial, [param.key, value]]);
    }
    out = next;
  }
  return out;
}

/** A binding as a plain object, for template rendering. */
export function bindingObject(binding: Binding): Record<string, string> {
  const object: Record<string, string> = {};
  for (const [key, value] of binding) object[key] = value;
  return object;
}

/** What an entry is, for messages: "the entry at queue.yaml:3:3". */
export interface EntryContext {
  readonly source: YamlSource;
  /** "queue entry" or "host entry". */
  readonly what: string;
}

/**
 * Reads a YAML map whose values are scalars or lists of scalars into parameters, in file order.
 * A value that is a map (or a list holding one) is a ConfigError naming the key.
 */
export function readParams(map: YAMLMap, context: EntryContext): Param[] {
  const params: Param[] = [];
  for (const pair of map.items) {
    const key = scalarText(pair.key);
    const keyPlace = placeOf(context.source, isScalar(pair.key) ? pair.key.range?.[0] : undefined);
    if (key === undefined || key === '') {
      throw new ConfigError(`A ${context.what} has a key that is ${kindOf(pair.key)}; keys must be plain names.`, {
        place: keyPlace,
        fix: 'Use a simple name such as `lr` as the key.',
      });
    }
    params.push({ key, values: readValues(key, pair.value, context, keyPlace), place: keyPlace });
  }
  return params;
}

function readValues(key: string, node: unknown, context: EntryContext, keyPlace: Place): string[] {
  const single = scalarText(node);
  if (single !== undefined) return [single];
  if (!isSeq(node)) {
    throw valueError(context, node, keyPlace, {
      message: `In a ${context.what}, \`${key}\` is ${kindOf(node)}; a parameter must be a single value or a list of values.`,
      fix: `Write \`${key}: value\` or \`${key}: [a, b]\`; nested maps are not parameters.`,
    });
  }
  const values: string[] = [];
  for (const item of node.items) {
    const value = item === null ? undefined : scalarText(item);
    if (value === undefined) {
      throw valueError(context, item, keyPlace, {
        message: `In a ${context.what}, the list under \`${key}\` holds ${kindOf(item)}; each value must be a single string or number.`,
        fix: `Write \`${key}: [a, b, c]\` with plain values, or quote a value that contains special characters.`,
      });
    }
    values.push(value);
  }
  if (values.length === 0) {
    throw new ConfigError(`In a ${context.what}, \`${key}\` is an empty list, so the entry would expand to nothing.`, {
      place: keyPlace,
      fix: `Give \`${key}\` at least one value, or remove the key.`,
    });
  }
  return values;
}

/** A ConfigError pointing at a bad value node (or at its key when the node has no position). */
function valueError(
  context: EntryContext,
  node: unknown,
  fallback: Place,
  text: { readonly message: string; readonly fix: string },
): ConfigError {
  const offset = isMap(node) || isSeq(node) || isScalar(node) ? node.range?.[0] : undefined;
  if (offset === undefined) return new ConfigError(text.message, { place: fallback, fix: text.fix });
  return new ConfigError(text.message, {
    place: placeOf(context.source, offset),
    excerpt: excerptAt(context.source, offset),
    fix: text.fix,
  });
}
