// @ts-check
/**
 * The chat panel: data messages of topic "chat" (docs/signaling.md), a list with each sender's
 * name and an input that sends with Enter. It opens over the tiles, so that opening it never
 * changes the size of a video (and with it the layer the node picks); closed, its button counts
 * what came in unread.
 */

export const CHAT_TOPIC = 'chat';
/** Longer text is not ours to type: the node refuses frames over 64 KiB anyway. */
const MAX_CHARS = 2000;

/** @typedef {{from: string, name: string, text: string, ts: number, own: boolean}} ChatMessage */

export class ChatPanel {
  /** @type {ChatMessage[]} every message shown, oldest first */
  messages = [];
  #panel;
  #list;
  #input;
  #toggle;
  #unread = 0;

  /**
   * @param {{panel: HTMLElement, list: HTMLElement, form: HTMLFormElement,
   *   input: HTMLInputElement, toggle: HTMLButtonElement}} view
   * @param {(text: string) => boolean} send sends the text; false if there is no call to send to
   */
  constructor({panel, list, form, input, toggle}, send) {
    this.#panel = panel;
    this.#list = list;
    this.#input = input;
    this.#toggle = toggle;
    input.maxLength = MAX_CHARS;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (text && send(text)) input.value = '';
    });
    toggle.addEventListener('click', () => this.#show(panel.hidden));
    this.#show(false);
  }

  /** Shows a message; `own` for ours (the node does not echo it back). @param {ChatMessage} message */
  add(message) {
    this.messages.push(message);
    const item = document.createElement('li');
    item.className = message.own ? 'own' : '';
    const who = document.createElement('span');
    who.className = 'from';
    who.textContent = message.own ? 'You' : message.name;
    const time = document.createElement('time');
    time.dateTime = new Date(message.ts).toISOString();
    time.textContent = new Date(message.ts).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = message.text;
    item.append(who, ' ', time, text);
    this.#list.append(item);
    item.scrollIntoView({block: 'end'});
    if (this.#panel.hidden && !message.own) this.#unread++;
    this.#label();
  }

  /** Empties the list (a new call). */
  clear() {
    this.messages = [];
    this.#list.replaceChildren();
    this.#unread = 0;
    this.#label();
  }

  /** @param {boolean} open */
  #show(open) {
    this.#panel.hidden = !open;
    this.#toggle.setAttribute('aria-expanded', String(open));
    if (open) {
      this.#unread = 0;
      this.#input.focus();
    }
    this.#label();
  }

  #label() {
    this.#toggle.textContent = this.#unread ? `Chat (${this.#unread} new)` : 'Chat';
  }
}
