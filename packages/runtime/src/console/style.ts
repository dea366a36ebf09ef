// The console's stylesheet, served as /console/console.css (the CSP allows styles from 'self' only).
import { configFormCss } from './config-form-style.js';

export const consoleCss = `
*, *::before, *::after { box-sizing: border-box; }
:root { color-scheme: light; --ink: #1d2330; --muted: #5b6474; --line: #d9dee7; --ok: #13795b; --warn: #9a6700; --bad: #b42318; --bg: #f6f7f9; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 12px 20px; display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: baseline; }
header h1 { font-size: 18px; margin: 0; }
header p { margin: 0; color: var(--muted); font-size: 13px; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 20px 40px; }
h2 { font-size: 16px; margin: 8px 0 12px; }
ol.chain { list-style: none; margin: 0; padding: 0; display: grid; gap: 12px; }
.plugin { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; display: grid; grid-template-columns: 2.5em minmax(0, 1fr); gap: 0 12px; }
.plugin .position { grid-row: span 3; font-size: 20px; font-weight: 600; color: var(--muted); }
.plugin h3 { margin: 0; font-size: 16px; display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: baseline; overflow-wrap: anywhere; }
.version { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; color: var(--muted); }
.status { font-size: 12px; font-weight: 600; border-radius: 999px; padding: 1px 8px; border: 1px solid currentColor; }
.status-running { color: var(--ok); }
.status-error { color: var(--bad); }
.status-disabled { color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 12px; margin: 8px 0 0; font-size: 13px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.capability { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; background: var(--bg); border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; margin-right: 4px; display: inline-block; }
.capability.missing { color: var(--bad); border-color: var(--bad); }
.errors { margin: 10px 0 0; }
.errors h4 { margin: 0 0 4px; font-size: 13px; color: var(--bad); }
.errors ul { margin: 0; padding-left: 18px; font-size: 13px; }
.errors li { overflow-wrap: anywhere; }
.errors code { font-size: 12px; }
.errors time { display: block; color: var(--muted); font-size: 12px; }
.empty { color: var(--muted); }

a { color: #1f5fbf; }
header h1 a { color: inherit; text-decoration: none; }
header nav { display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: center; margin-left: auto; font-size: 14px; }
header nav a { text-decoration: none; padding: 2px 0; }
header nav a[aria-current="page"] { font-weight: 600; border-bottom: 2px solid currentColor; }
.lead { color: var(--muted); margin: 0 0 12px; }
.hint { color: var(--muted); font-size: 13px; margin: 4px 0; }
.crumbs { font-size: 13px; color: var(--muted); margin: 0 0 4px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 0 0 14px; min-width: 0; }
section h3 { margin: 0 0 8px; font-size: 15px; }
.panels { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 320px), 1fr)); gap: 0 14px; margin-top: 12px; }
button, .button { font: inherit; font-size: 13px; padding: 4px 10px; border-radius: 6px; border: 1px solid var(--line); background: #fff; color: var(--ink); cursor: pointer; text-decoration: none; display: inline-block; line-height: 1.5; }
button:hover, .button:hover { border-color: var(--muted); }
button.primary { background: var(--ink); color: #fff; border-color: var(--ink); padding: 6px 14px; }
button.danger { color: #fff; background: var(--bad); border-color: var(--bad); }
button.link { border: 0; background: none; color: #1f5fbf; padding: 2px 0; font-size: inherit; line-height: inherit; }
form.inline { display: inline; margin: 0; }
.controls { grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-top: 10px; }
details.confirm { display: inline-block; font-size: 13px; }
details.confirm summary { cursor: pointer; padding: 4px 10px; border: 1px solid var(--line); border-radius: 6px; background: #fff; list-style: none; }
details.confirm[open] { display: block; width: 100%; border: 1px solid var(--bad); border-radius: 6px; padding: 6px 10px; background: #fff; }
details.confirm[open] summary { border: 0; padding: 0; color: var(--bad); }
details.confirm p { margin: 4px 0 6px; }
.flash { border-radius: 6px; padding: 8px 12px; margin: 0 0 12px; border: 1px solid; overflow-wrap: anywhere; }
.flash-ok { background: #e9f6f0; border-color: var(--ok); color: #0b4d3a; }
.flash-error { background: #fdecea; border-color: var(--bad); color: #7a1810; }
label { display: block; font-size: 13px; font-weight: 600; margin: 8px 0 2px; }
label.check { font-weight: 400; display: flex; gap: 6px; align-items: baseline; }
input:not([type="checkbox"]):not([type="radio"]), select, textarea { font: inherit; font-size: 14px; width: 100%; max-width: 100%; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; background: #fff; color: var(--ink); }
textarea { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
[aria-invalid="true"] { border-color: var(--bad) !important; }
.field-error { color: var(--bad); font-size: 13px; margin: 2px 0 0; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 8px 0; padding: 6px 12px 10px; min-width: 0; }
legend { font-size: 13px; font-weight: 600; padding: 0 4px; }
form.row { display: flex; flex-wrap: wrap; gap: 6px 8px; align-items: center; }
form.row label { margin: 0; }
form.row input, form.row select { width: auto; flex: 1 1 180px; }
form > button[type="submit"], section > form > button { margin-top: 10px; }
.login { max-width: 460px; margin: 40px auto; }
dl.metrics { display: grid; grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); gap: 8px; margin: 0; }
dl.metrics div { border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
dl.metrics dt { font-size: 12px; color: var(--muted); }
dl.metrics dd { margin: 0; font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: 13px; background: #fff; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
th { white-space: nowrap; }
td button { white-space: nowrap; }
td .message { overflow-wrap: anywhere; }
th { font-weight: 600; color: var(--muted); }
.error-list { margin: 8px 0 0; padding-left: 18px; font-size: 13px; }
.error-list li { overflow-wrap: anywhere; }
.error-list time { display: block; color: var(--muted); font-size: 12px; }
.filters { display: flex; gap: 10px; font-size: 13px; margin-bottom: 6px; }
.filters a[aria-current] { font-weight: 600; }
ol.logs { list-style: none; margin: 0; padding: 0; font-size: 13px; max-height: 420px; overflow: auto; }
.log { padding: 3px 0; border-bottom: 1px solid var(--bg); overflow-wrap: anywhere; }
.log time { color: var(--muted); font-size: 12px; }
.log .level { font-weight: 600; text-transform: uppercase; font-size: 11px; }
.log-warn .level { color: var(--warn); }
.log-error .level { color: var(--bad); }
.log .fields { font-size: 12px; color: var(--muted); }
ul.hits { list-style: none; padding: 0; margin: 0; display: grid; gap: 10px; }
.hit { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.hit h3 { margin: 0; font-size: 15px; overflow-wrap: anywhere; }
.hit p { margin: 4px 0 0; font-size: 13px; }
.bulk { display: flex; flex-wrap: wrap; gap: 6px; margin: 0 0 8px; }
ol.steps { list-style: none; padding: 0; margin: 0; display: grid; gap: 10px; }
.step { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.step h4 { margin: 0; font-size: 14px; display: flex; flex-wrap: wrap; gap: 4px 8px; align-items: baseline; }
.step .position { color: var(--muted); }
.status-changed { color: var(--ok); }
.status-unchanged, .status-skipped { color: var(--muted); }
.status-dropped { color: var(--warn); }
.status-failed { color: var(--bad); }
pre.diff, pre.json { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; margin: 6px 0 0; overflow-x: auto; max-width: 100%; white-space: pre; }
.diff span { display: block; }
.diff-added { background: #dff5e8; color: #0b4d3a; }
.diff-removed { background: #fde4e1; color: #7a1810; }
.diff-folded { color: var(--muted); font-style: italic; }
.dry-run h4 { margin: 14px 0 4px; font-size: 14px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 600px) {
  header nav { margin-left: 0; width: 100%; }
  section { padding: 10px 12px; }
  main { padding: 12px; }
  .plugin { grid-template-columns: minmax(0, 1fr); padding: 10px 12px; }
  .plugin .position { grid-row: auto; font-size: 14px; }
}
${configFormCss}
`;
