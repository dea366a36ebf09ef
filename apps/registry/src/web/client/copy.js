/** Wires `<button data-copy="ID">`: copies the text of element ID and says so in the button's live region. */
export function initCopyButtons() {
  for (const button of document.querySelectorAll('button[data-copy]')) {
    if (!(button instanceof HTMLButtonElement)) continue;
    button.hidden = false;
    button.addEventListener('click', async () => {
      const source = document.getElementById(button.dataset.copy ?? '');
      const status = button.parentElement?.querySelector('[data-copy-status]');
      try {
        await navigator.clipboard.writeText(source?.textContent ?? '');
        if (status) status.textContent = 'Copied';
      } catch {
        if (status) status.textContent = 'Copy failed: select the text and copy it';
      }
      setTimeout(() => {
        if (status) status.textContent = '';
      }, 2000);
    });
  }
}
