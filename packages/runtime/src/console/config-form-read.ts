// Reading a submitted config form back into a config object, typed per the schema. Pure (no Node
// APIs): the console's browser script runs the very same code before it validates.
import { encodeSegment, fieldKind, isSchema, isSecretSchema, ROOT_PATH, type Schema } from './config-form-schema.js';

/** An error of one field: `path` is its field name (see config-form-schema.ts), e.g. `config.headers.0.name`. */
export interface FieldError {
  path: string;
  message: string;
}

/** What {@link collectConfigForm} read from a form. */
export interface CollectedForm {
  /** The config as typed on the form (not validated, secrets left empty are absent). */
  value: Record<string, unknown>;
  /** Fields that could not be read (invalid JSON). */
  errors: FieldError[];
  /** Field names of the secrets left empty (keep the stored value). */
  emptySecrets: string[];
}

/** Options of {@link collectConfigForm}. */
export interface CollectOptions {
  /** Keep empty rows of primitive arrays (as `''`), so item indices stay those of the form. */
  keepEmptyRows?: boolean;
  /** Treat every secret as left empty (a form re-rendered for Add/Remove cannot show a typed secret). */
  secretsAsEmpty?: boolean;
}

/** The stored index of each row of an array read from a form (`null` for a new row), by array. */
export const rowOrigins = new WeakMap<unknown[], (number | null)[]>();

/**
 * The config a form describes: each field typed per its schema (numbers, booleans, enum members, JSON
 * fields parsed), arrays from their rows in index order (removed rows are simply absent), empty
 * optional fields and empty optional objects omitted.
 */
export function collectConfigForm(schema: Schema, form: URLSearchParams, options: CollectOptions = {}): CollectedForm {
  const names = [...new Set(form.keys())];
  const errors: FieldError[] = [];
  const emptySecrets: string[] = [];
  const rowIndices = (path: string): number[] => {
    const found = new Set<number>();
    for (const name of names) {
      const rest = name.startsWith(`${path}.`) ? name.slice(path.length + 1) : name.startsWith(`_row.${path}.`) ? name.slice(path.length + 6) : undefined;
      const index = rest?.split('.')[0];
      if (index !== undefined && /^\d{1,6}$/.test(index)) found.add(Number(index));
    }
    return [...found].sort((a, b) => a - b);
  };
  const hasEmptySecretBelow = (path: string) => emptySecrets.some((secret) => secret.startsWith(`${path}.`));

  const read = (raw: unknown, path: string, depth: number): unknown => {
    const kind = fieldKind(schema, raw);
    const text = form.get(path);
    if (depth < 32 && kind.kind !== 'object' && kind.kind !== 'array' && isSecretSchema(schema, raw)) {
      if (text === null || text === '' || options.secretsAsEmpty) {
        emptySecrets.push(path);
        return undefined;
      }
      return text;
    }
    switch (kind.kind) {
      case 'string':
      case 'textarea':
        return text === null || text === '' ? undefined : text;
      case 'number': {
        if (text === null || text.trim() === '') return undefined;
        const number = Number(text);
        // Not a number: kept as typed, so the validator says "must be number".
        return Number.isFinite(number) ? number : text;
      }
      case 'boolean': {
        const values = form.getAll(path);
        return values.length === 0 ? undefined : values[values.length - 1] === 'true';
      }
      case 'enum': {
        if (text === null || text === '') return undefined;
        const match = kind.values.find((value) => optionValue(value) === text);
        return match === undefined ? text : match;
      }
      case 'json': {
        if (text === null || text.trim() === '') return undefined;
        try {
          return JSON.parse(text);
        } catch (error) {
          errors.push({ path, message: `must be valid JSON (${(error as Error).message})` });
          return undefined;
        }
      }
      case 'object': {
        const out: Record<string, unknown> = {};
        if (depth >= 32) return out;
        for (const [key, sub] of kind.properties) {
          const childPath = `${path}.${encodeSegment(key)}`;
          const child = read(sub, childPath, depth + 1);
          if (child === undefined) continue;
          const emptyObject = isSchema(child) && Object.keys(child).length === 0 && fieldKind(schema, sub).kind === 'object';
          if (emptyObject && !kind.required.has(key) && !hasEmptySecretBelow(childPath)) continue;
          out[key] = child;
        }
        return out;
      }
      case 'array': {
        const indices = rowIndices(path);
        if (indices.length === 0 && !form.has(`_array.${path}`)) return undefined;
        const items: unknown[] = [];
        const origins: (number | null)[] = [];
        const primitive = fieldKind(schema, kind.items).kind !== 'object';
        for (const index of indices) {
          const itemPath = `${path}.${index}`;
          let item = depth < 32 ? read(kind.items, itemPath, depth + 1) : undefined;
          if (item === undefined && primitive && !options.keepEmptyRows) continue;
          if (item === undefined) item = primitive ? '' : {};
          const origin = form.get(`_row.${itemPath}`);
          items.push(item);
          origins.push(origin !== null && /^\d{1,6}$/.test(origin) ? Number(origin) : null);
        }
        rowOrigins.set(items, origins);
        return items;
      }
    }
  };
  const value = read(schema, ROOT_PATH, 0);
  return { value: isSchema(value) ? value : {}, errors, emptySecrets };
}

/** An `<option>` value of an enum member: strings as they are, other values as JSON. */
export function optionValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The button a form was submitted with: `_form` = `save` (or absent), `add:<array path>`, `remove:<row path>`. */
export type FormAction = { action: 'save' } | { action: 'add'; path: string } | { action: 'remove'; path: string };

/** Reads the `_form` field. */
export function formAction(form: URLSearchParams): FormAction {
  const value = form.get('_form') ?? 'save';
  const match = /^(add|remove):(config(?:\..+)?)$/.exec(value);
  if (!match) return { action: 'save' };
  return { action: match[1] as 'add' | 'remove', path: match[2] as string };
}

/**
 * The stored config rearranged to the rows of `value` (by {@link rowOrigins}): what secrets left empty
 * are restored from, so a removed row does not hand its secret to the row after it.
 */
export function alignStored(value: unknown, stored: unknown, depth = 0): unknown {
  if (depth > 64) return stored;
  if (Array.isArray(value)) {
    const origins = rowOrigins.get(value);
    const previous = Array.isArray(stored) ? stored : [];
    return value.map((item, index) => {
      const origin = origins ? origins[index] : index;
      return alignStored(item, origin === null || origin === undefined ? undefined : previous[origin], depth + 1);
    });
  }
  if (isSchema(value) && isSchema(stored)) {
    const out: Record<string, unknown> = { ...stored };
    for (const [key, item] of Object.entries(value)) out[key] = alignStored(item, stored[key], depth + 1);
    return out;
  }
  return stored;
}

/** Copies the {@link rowOrigins} of the arrays of `from` to the arrays at the same places in `to`. */
export function copyOrigins(from: unknown, to: unknown, depth = 0): void {
  if (depth > 64) return;
  if (Array.isArray(from) && Array.isArray(to)) {
    const origins = rowOrigins.get(from);
    if (origins) rowOrigins.set(to, origins);
    for (const [index, item] of from.entries()) copyOrigins(item, to[index], depth + 1);
  } else if (isSchema(from) && isSchema(to)) {
    for (const [key, item] of Object.entries(from)) copyOrigins(item, to[key], depth + 1);
  }
}
