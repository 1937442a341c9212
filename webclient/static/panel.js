// @ts-check
/**
 * A panel opened and closed by a button (the people list, the settings): the button says
 * whether it is open (`aria-expanded`), Escape inside the panel closes it and gives the focus
 * back to the button.
 */

/**
 * Wires `toggle` to show and hide `panel` (closed at first); returns the function that opens
 * (true) or closes (false) it.
 * @param {HTMLButtonElement} toggle @param {HTMLElement} panel
 * @param {() => void} [onOpen] called each time it opens (e.g. to move the focus into it)
 * @returns {(open: boolean) => void}
 */
export function disclosure(toggle, panel, onOpen) {
  const show = (/** @type {boolean} */ open) => {
    panel.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (open) onOpen?.();
  };
  toggle.addEventListener('click', () => show(panel.hidden));
  panel.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    event.preventDefault();
    show(false);
    toggle.focus();
  });
  show(false);
  return show;
}
