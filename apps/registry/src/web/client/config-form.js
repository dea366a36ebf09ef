/**
 * The config form on a plugin page: reads the fields back into a config object, validates it with the
 * SDK's `validateConfig` (ajv, the same code the runtime uses) against the schema the server embedded in
 * the page, shows each error next to its field (and in a summary), and the resulting config JSON with
 * defaults applied and secrets masked unless the user asks to see them.
 */
import { redactConfig, validateConfig } from '@plugline/sdk';

/** @typedef {import('@plugline/sdk').ConfigSchema} ConfigSchema */
/** @typedef {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} Control */

/**
 * One field's value: `undefined` leaves the key out (so `required` reports it), `problem` is a parse
 * error shown instead of schema errors (e.g. invalid JSON).
 * @param {Control} control
 * @returns {{ value?: unknown; problem?: string }}
 */
function readControl(control) {
  const kind = control.dataset.kind;
  const raw = control.value;
  switch (kind) {
    case 'boolean':
      return { value: control instanceof HTMLInputElement && control.checked };
    case 'enum':
      return raw === '' ? {} : { value: JSON.parse(raw) };
    case 'integer':
    case 'number': {
      // A number input reports '' for text it cannot parse; `badInput` tells that apart from empty.
      if (control instanceof HTMLInputElement && control.validity.badInput) return { problem: 'must be a number' };
      return raw.trim() === '' ? {} : { value: Number(raw) };
    }
    case 'list': {
      const lines = raw.split('\n').map((line) => line.trim()).filter(Boolean);
      if (lines.length === 0) return {};
      const itemKind = control.dataset.itemKind;
      return { value: itemKind === 'string' ? lines : lines.map((line) => (Number.isNaN(Number(line)) ? line : Number(line))) };
    }
    case 'json': {
      if (raw.trim() === '') return {};
      try {
        return { value: JSON.parse(raw) };
      } catch {
        return { problem: 'is not valid JSON' };
      }
    }
    default:
      return raw === '' ? {} : { value: raw };
  }
}

/**
 * Splits the SDK's `config.key: message` errors by top-level key (longest key first, so `a.b` is not
 * taken for `a`); errors about the whole object land under `''`.
 * @param {string[]} errors @param {string[]} keys
 * @returns {Map<string, string[]>}
 */
export function errorsByKey(errors, keys) {
  const sorted = [...keys].sort((a, b) => b.length - a.length);
  /** @type {Map<string, string[]>} */
  const byKey = new Map();
  for (const error of errors) {
    const key = sorted.find((candidate) => error.startsWith(`config.${candidate}:`) || error.startsWith(`config.${candidate}.`)) ?? '';
    const message = key ? error.slice(`config.${key}`.length).replace(/^[.:]\s*/, '') : error;
    byKey.set(key, [...(byKey.get(key) ?? []), message]);
  }
  return byKey;
}

export function initConfigForm() {
  const form = document.getElementById('config-form');
  const schemaScript = document.getElementById('config-schema');
  const output = document.getElementById('config-json');
  const status = document.getElementById('config-status');
  const summary = document.getElementById('config-errors');
  const reveal = document.getElementById('config-reveal');
  if (!(form instanceof HTMLFormElement) || !schemaScript || !output || !status || !summary || !(reveal instanceof HTMLInputElement)) return;
  /** @type {ConfigSchema} */
  const schema = JSON.parse(schemaScript.textContent ?? '{}');
  /** @type {Control[]} */
  const controls = Array.from(form.querySelectorAll('[data-config-key]'));
  const keys = controls.map((control) => control.dataset.configKey ?? '');
  let validatedOnce = false;
  /** @type {unknown} the last valid config, secrets included: what the copy button copies */
  let lastValid;
  const copyButton = document.getElementById('config-copy');
  const copyStatus = document.getElementById('config-copy-status');
  const button = form.querySelector('button[type="submit"]');
  if (button instanceof HTMLButtonElement) button.disabled = false;

  /** @param {boolean} moveFocus */
  function validate(moveFocus) {
    if (!output || !status || !summary || !(reveal instanceof HTMLInputElement)) return;
    /** @type {Record<string, unknown>} */
    const config = {};
    /** @type {string[]} */
    const parseErrors = [];
    for (const control of controls) {
      const key = control.dataset.configKey ?? '';
      const { value, problem } = readControl(control);
      if (problem) parseErrors.push(`config.${key}: ${problem}`);
      else if (value !== undefined) config[key] = value;
    }
    const result = parseErrors.length ? { value: undefined, errors: parseErrors } : validateConfig(schema, config);
    const byKey = errorsByKey(result.errors, keys);

    for (const control of controls) {
      const key = control.dataset.configKey ?? '';
      const messages = byKey.get(key);
      const errorLine = document.getElementById(`${control.id}-error`);
      if (messages) control.setAttribute('aria-invalid', 'true');
      else control.removeAttribute('aria-invalid');
      if (errorLine) {
        errorLine.hidden = !messages;
        errorLine.textContent = messages ? messages.map((message) => `${labelOf(control)} ${message}`).join('; ') : '';
      }
    }

    if (result.value === undefined) {
      summary.hidden = false;
      const heading = document.createElement('h3');
      heading.textContent = `${result.errors.length} ${result.errors.length === 1 ? 'problem' : 'problems'} in the config`;
      const list = document.createElement('ul');
      for (const [key, messages] of byKey) {
        const control = controls.find((candidate) => candidate.dataset.configKey === key);
        for (const message of messages) {
          const item = document.createElement('li');
          if (control) {
            const link = document.createElement('a');
            link.href = `#${control.id}`;
            link.textContent = `${labelOf(control)} ${message}`;
            // Following the link puts the cursor in the field, not just the field on screen.
            link.addEventListener('click', (event) => {
              event.preventDefault();
              control.focus();
            });
            item.append(link);
          } else item.textContent = message;
          list.append(item);
        }
      }
      summary.replaceChildren(heading, list);
      status.textContent = 'Not valid: fix the problems above.';
      status.className = 'invalid';
      output.textContent = '';
      lastValid = undefined;
      if (copyButton) copyButton.hidden = true;
      if (moveFocus) summary.focus();
      return;
    }
    summary.hidden = true;
    summary.replaceChildren();
    const shown = reveal.checked ? result.value : redactConfig(schema, /** @type {Record<string, unknown>} */ (result.value));
    output.textContent = JSON.stringify(shown, null, 2);
    lastValid = result.value;
    if (copyButton) copyButton.hidden = false;
    status.textContent = 'Valid: this config matches the plugin’s schema.';
    status.className = 'valid';
  }

  /** @param {Control} control */
  function labelOf(control) {
    const label = control.labels?.[0];
    // The label's text without the visually hidden "(required)" and the star.
    const text = label ? Array.from(label.childNodes).find((node) => node.nodeType === Node.TEXT_NODE)?.textContent?.trim() : undefined;
    return text || control.dataset.configKey || '';
  }

  copyButton?.addEventListener('click', async () => {
    if (lastValid === undefined || !copyStatus) return;
    try {
      await navigator.clipboard.writeText(`${JSON.stringify(lastValid, null, 2)}\n`);
      copyStatus.textContent = 'Copied';
    } catch {
      copyStatus.textContent = 'Copy failed: tick “Show secrets” and select the JSON';
    }
    setTimeout(() => {
      copyStatus.textContent = '';
    }, 2000);
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    validatedOnce = true;
    validate(true);
  });
  // After the first check, errors and JSON follow every edit (and the reveal box) without moving focus.
  form.addEventListener('input', () => {
    if (validatedOnce) validate(false);
  });
}
