// The console's browser script (/console/console.js, bundled by scripts/build-console.mjs): config
// forms validate as they are filled in (with the SDK's validator, as standalone code the server
// served: no eval under the CSP) and add/remove array rows without a round trip. Without it, the
// forms still work: the server validates, and Add/Remove buttons submit.
import { configErrorDetails, configValidatorFormats, configValidatorRequire } from '@plugline/sdk/browser';
import { collectConfigForm, type FieldError } from '../config-form-read.js';
import { fieldFor, idOf, pathOf, ROOT_PATH, type Schema, TEMPLATE_INDEX } from '../config-form-schema.js';

type Validate = ((data: unknown) => boolean) & { errors?: Parameters<typeof configErrorDetails>[0] };
type Factory = (require: (name: string) => unknown, formats: unknown) => Validate | { default: Validate };

const VALIDATOR_GLOBAL = '__pluglineConfigValidators';
const PATH_ATTRIBUTES = ['name', 'data-path', 'data-error-for', 'data-row-template'];
const ID_ATTRIBUTES = ['id', 'for', 'aria-describedby', 'href'];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Renames a row's paths (and the ids made from them) in an element, its descendants and templates. */
function rename(root: Element | DocumentFragment, from: string, to: string): void {
  const pathPattern = new RegExp(`${escapeRegExp(from)}(?=$|\\.)`, 'g');
  const idPattern = new RegExp(`${escapeRegExp(idOf(from))}(?=$|\\.|-)`, 'g');
  const elements = root instanceof Element ? [root, ...root.querySelectorAll('*')] : [...root.querySelectorAll('*')];
  for (const element of elements) {
    for (const attribute of PATH_ATTRIBUTES) {
      const value = element.getAttribute(attribute);
      if (value !== null) element.setAttribute(attribute, value.replace(pathPattern, to));
    }
    if (element instanceof HTMLButtonElement && element.name === '_form') element.value = element.value.replace(pathPattern, to);
    for (const attribute of ID_ATTRIBUTES) {
      const value = element.getAttribute(attribute);
      if (value !== null) element.setAttribute(attribute, value.replace(idPattern, idOf(to)));
    }
    if (element instanceof HTMLTemplateElement) rename(element.content, from, to);
  }
}

function renumber(rows: Element, arrayPath: string): void {
  [...rows.children].forEach((row, index) => {
    if (!(row instanceof HTMLElement) || row.dataset.row === undefined) return;
    const path = `${arrayPath}.${index}`;
    const current = row.dataset.path;
    if (current !== undefined && current !== path) rename(row, current, path);
    const number = row.querySelector(':scope > legend > .row-number');
    if (number) number.textContent = String(index + 1);
  });
}

function directChild(parent: Element, selector: string): Element | undefined {
  return [...parent.children].find((child) => child.matches(selector));
}

class ConfigForm {
  private readonly touched = new Set<string>();
  private validator: Validate | undefined;

  // Looked up when first needed: the validator's script may come after this one on the page.
  private get validate(): Validate | undefined {
    this.validator ??= loadValidator(this.validatorId);
    return this.validator;
  }
  private submitted = false;

  constructor(
    private readonly form: HTMLFormElement,
    private readonly schema: Schema,
    private readonly validatorId: string | undefined,
  ) {
    form.addEventListener('click', (event) => this.onClick(event));
    form.addEventListener('submit', (event) => this.onSubmit(event));
    form.addEventListener('input', (event) => this.onInput(event));
    form.addEventListener('change', (event) => this.onInput(event));
  }

  private elementByPath(selector: string, path: string): HTMLElement | undefined {
    return [...this.form.querySelectorAll<HTMLElement>(selector)].find((element) => element.dataset.path === path);
  }

  private onClick(event: MouseEvent): void {
    const button = event.target instanceof Element ? event.target.closest('button[name="_form"]') : null;
    if (!(button instanceof HTMLButtonElement)) return;
    const [, action, path] = /^(add|remove):(.+)$/.exec(button.value) ?? [];
    if (!action || !path) return;
    event.preventDefault();
    if (action === 'add') this.addRow(path);
    else this.removeRow(path);
    this.refresh();
  }

  private addRow(arrayPath: string): void {
    const group = this.elementByPath('[data-array]', arrayPath);
    const template = group && directChild(group, 'template[data-row-template]');
    const rows = group && directChild(group, '[data-rows]');
    if (!(template instanceof HTMLTemplateElement) || !rows) return;
    const fragment = template.content.cloneNode(true) as DocumentFragment;
    const index = rows.children.length;
    rename(fragment, `${arrayPath}.${TEMPLATE_INDEX}`, `${arrayPath}.${index}`);
    rows.append(fragment);
    renumber(rows, arrayPath);
    const row = rows.children[index];
    row?.querySelector<HTMLElement>('input:not([type=hidden]), select, textarea')?.focus();
  }

  private removeRow(rowPath: string): void {
    const row = this.elementByPath('[data-row]', rowPath);
    const rows = row?.parentElement;
    if (!row || !rows) return;
    const arrayPath = rowPath.slice(0, rowPath.lastIndexOf('.'));
    row.remove();
    renumber(rows, arrayPath);
    this.elementByPath('[data-array]', arrayPath)?.querySelector<HTMLElement>(':scope > .row-add')?.focus();
  }

  private onInput(event: Event): void {
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement) this.touched.add(target.name);
    this.refresh();
  }

  private onSubmit(event: SubmitEvent): void {
    const submitter = event.submitter;
    if (submitter instanceof HTMLButtonElement && /^(add|remove):/.test(submitter.value)) return;
    this.submitted = true;
    const errors = this.refresh();
    if (errors.length === 0) return;
    event.preventDefault();
    this.form.querySelector<HTMLElement>('[data-config-errors]')?.focus();
  }

  /** The errors of the form as it is now (none when no validator was served). */
  errors(): FieldError[] {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(this.form)) if (typeof value === 'string') params.append(name, value);
    const collected = collectConfigForm(this.schema, params);
    // A secret left empty keeps its stored value, which this page does not know: not an error here.
    const kept = new Set([...this.form.querySelectorAll<HTMLInputElement>('input[type=password][data-secret-set]')].filter((input) => input.value === '').map((input) => input.name));
    const errors = [...collected.errors];
    if (this.validate && !this.validate(structuredClone(collected.value))) {
      const unreadable = new Set(errors.map((error) => error.path));
      for (const detail of configErrorDetails(this.validate.errors, 'config')) {
        const path = pathOf(detail.segments);
        if (!kept.has(path) && !unreadable.has(path)) errors.push({ path, message: detail.message });
      }
    }
    return errors;
  }

  /** Validates and shows the errors: at touched fields while typing, everywhere after a submit. */
  refresh(): FieldError[] {
    const errors = this.errors();
    const known = new Set([ROOT_PATH, ...[...this.form.querySelectorAll<HTMLElement>('[data-path]')].map((element) => element.dataset.path ?? '')]);
    const messages = new Map<string, string[]>();
    const summary: { path: string; at: string; message: string }[] = [];
    for (const error of errors) {
      const at = fieldFor(error.path, known) ?? ROOT_PATH;
      const shown = this.submitted || [...this.touched].some((name) => name === at || name.startsWith(`${at}.`) || at.startsWith(`${name}.`) || name === error.path);
      if (!shown) continue;
      const message = at === error.path ? error.message : `${error.path.split('.').slice(at.split('.').length).join('.')} ${error.message}`;
      messages.set(at, [...(messages.get(at) ?? []), message]);
      summary.push({ path: error.path, at, message: error.message });
    }
    for (const block of this.form.querySelectorAll<HTMLElement>('.field-error[data-error-for]')) {
      const path = block.dataset.errorFor ?? '';
      const list = messages.get(path);
      block.textContent = list ? list.join('; ') : '';
      block.hidden = !list;
      const control = document.getElementById(idOf(path));
      if (control && this.form.contains(control)) {
        if (list) control.setAttribute('aria-invalid', 'true');
        else control.removeAttribute('aria-invalid');
      }
    }
    const box = this.form.querySelector<HTMLElement>('[data-config-errors]');
    if (box && (this.submitted || summary.length === 0)) {
      box.hidden = summary.length === 0;
      const title = box.querySelector('.form-errors-title');
      if (title) title.textContent = `${summary.length === 1 ? '1 problem' : `${summary.length} problems`} to fix:`;
      const list = box.querySelector('ul');
      if (list) {
        list.replaceChildren(
          ...summary.map((entry) => {
            const item = document.createElement('li');
            const link = document.createElement('a');
            link.href = `#${idOf(entry.at)}`;
            link.textContent = entry.path.replace(/^config\.?/, '') || 'config';
            item.append(link, `: ${entry.message}`);
            return item;
          }),
        );
      }
    }
    return errors;
  }
}

function loadValidator(id: string | undefined): Validate | undefined {
  const factories = (globalThis as unknown as Record<string, Record<string, Factory> | undefined>)[VALIDATOR_GLOBAL];
  const factory = id ? factories?.[id] : undefined;
  if (!factory) return undefined;
  try {
    const made = factory(configValidatorRequire, configValidatorFormats);
    return typeof made === 'function' ? made : made.default;
  } catch {
    // A validator needing something this page lacks: the server still validates on submit.
    return undefined;
  }
}

function start(): void {
  for (const form of document.querySelectorAll<HTMLFormElement>('form[data-config-form]')) {
    const block = form.querySelector<HTMLScriptElement>('script[type="application/json"][data-config-schema]');
    if (!block || form.dataset.configFormReady !== undefined) continue;
    let schema: Schema;
    try {
      schema = JSON.parse(block.textContent ?? '') as Schema;
    } catch {
      continue;
    }
    form.dataset.configFormReady = '';
    new ConfigForm(form, schema, block.dataset.validator);
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
