// The console's stylesheet, served as /console/console.css (the CSP allows styles from 'self' only).
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
@media (max-width: 600px) {
  main { padding: 12px; }
  .plugin { grid-template-columns: minmax(0, 1fr); padding: 10px 12px; }
  .plugin .position { grid-row: auto; font-size: 14px; }
}
`;
