// The config form's styles, appended to the console stylesheet (consoleCss). Fits a 390 px screen.
/** CSS for the config form (`renderConfigFields`). */
export const configFormCss = `
[data-config-form], [data-config-form] *, [data-config-form] *::before, [data-config-form] *::after { box-sizing: border-box; }
[data-config-form] { display: grid; gap: 12px; max-width: 720px; min-width: 0; }
[data-config-form] .field { display: grid; gap: 4px; min-width: 0; }
[data-config-form] .field-check { grid-template-columns: auto minmax(0, 1fr); align-items: baseline; column-gap: 8px; }
[data-config-form] .field-check > .field-help, [data-config-form] .field-check > .field-error { grid-column: 2; }
[data-config-form] label, [data-config-form] legend { font-weight: 600; font-size: 14px; overflow-wrap: anywhere; }
[data-config-form] input:not([type=checkbox]):not([type=hidden]), [data-config-form] select, [data-config-form] textarea {
  width: 100%; max-width: 100%; min-width: 0; font: inherit; font-size: 15px; padding: 6px 8px; border: 1px solid var(--line, #d9dee7); border-radius: 6px; background: #fff; color: inherit;
}
[data-config-form] textarea.json { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
[data-config-form] [aria-invalid=true] { border-color: var(--bad, #b42318); outline-color: var(--bad, #b42318); }
[data-config-form] fieldset { border: 1px solid var(--line, #d9dee7); border-radius: 8px; padding: 8px 12px 12px; margin: 0; min-width: 0; display: grid; gap: 10px; }
[data-config-form] .array-rows { display: grid; gap: 8px; min-width: 0; }
[data-config-form] .array-row-inline { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 4px 8px; align-items: center; }
[data-config-form] .array-row-inline > .field-error { grid-column: 1 / -1; }
[data-config-form] .array-row { background: var(--bg, #f6f7f9); }
[data-config-form] .row-remove, [data-config-form] .row-add { justify-self: start; font: inherit; font-size: 13px; padding: 4px 10px; border-radius: 6px; border: 1px solid var(--line, #d9dee7); background: #fff; cursor: pointer; }
[data-config-form] .field-help { margin: 0; color: var(--muted, #5b6474); font-size: 13px; overflow-wrap: anywhere; }
[data-config-form] .field-error { margin: 0; color: var(--bad, #b42318); font-size: 13px; overflow-wrap: anywhere; }
[data-config-form] .field-error[hidden], [data-config-form] .form-errors[hidden] { display: none; }
[data-config-form] .field-required { color: var(--bad, #b42318); }
[data-config-form] .field-type { color: var(--muted, #5b6474); font-weight: 400; }
[data-config-form] .form-errors { border: 1px solid var(--bad, #b42318); border-radius: 8px; padding: 8px 12px; background: #fff; overflow-wrap: anywhere; }
[data-config-form] .form-errors-title { margin: 0 0 4px; font-weight: 600; color: var(--bad, #b42318); }
[data-config-form] .form-errors ul { margin: 0; padding-left: 18px; font-size: 13px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;
