// Entry of the marketplace's browser script: progressive enhancement of server-rendered pages.
import { initCopyButtons } from './copy.js';
import { initSearch } from './search.js';

initSearch();
initCopyButtons();

// The validator (ajv, via the SDK) is only loaded on pages that have a config form.
if (document.getElementById('config-form')) {
  import('./config-form.js').then(({ initConfigForm }) => initConfigForm());
}
