// @ts-check
/**
 * The people panel: everyone in the room, us first and then by name, each with what the
 * others see of them: microphone and camera off (or absent), speaking, sharing a screen. It
 * follows the node's messages (participants, their tracks and mutes, the speakers) and our own
 * buttons. Joins, leaves and screen shares are also said in a polite live region; mutes and
 * speaking only show (they would talk over the call).
 *
 * Hidden participants are in no message of the node, so they never appear here.
 */
import {disclosure} from './panel.js';

/**
 * @typedef {import('./signaling.js').ParticipantInfo} ParticipantInfo
 * @typedef {import('./signaling.js').TrackInfo} TrackInfo
 * @typedef {'on' | 'off' | 'none'} DeviceState a microphone or camera: sending, muted, or none
 * @typedef {{mic: DeviceState, camera: DeviceState, sharing: boolean}} LocalState
 * @typedef {{identity: string, name: string, self: boolean, mic: DeviceState,
 *   camera: DeviceState, speaking: boolean, sharing: boolean}} Person what `people` lists
 * @typedef {{identity: string, name: string, tracks: Map<string, TrackInfo>,
 *   local: LocalState | null, speaking: boolean, item: HTMLLIElement}} Entry
 */

export class PeopleList {
  /** @type {Map<string, Entry>} */
  #entries = new Map();
  /** @type {string | null} */
  #self = null;
  /** @type {LocalState} */
  #local = {mic: 'none', camera: 'none', sharing: false};
  #list;
  #toggle;
  #title;
  #announcer;

  /**
   * @param {{panel: HTMLElement, list: HTMLElement, title: HTMLElement,
   *   toggle: HTMLButtonElement, announcer: HTMLElement}} view
   */
  constructor({panel, list, title, toggle, announcer}) {
    this.#list = list;
    this.#title = title;
    this.#toggle = toggle;
    this.#announcer = announcer;
    panel.tabIndex = -1;
    disclosure(toggle, panel, () => panel.focus());
    this.#count();
  }

  /** Everyone listed, in the panel's order. @returns {Person[]} */
  get people() {
    return this.#sorted().map((entry) => ({
      identity: entry.identity,
      name: entry.name,
      self: entry.identity === this.#self,
      ...this.#state(entry),
      speaking: entry.speaking,
    }));
  }

  /** Lists us (a new call, or a rejoin). */
  setSelf(/** @type {string} */ identity, /** @type {string} */ name) {
    if (this.#self && this.#self !== identity) this.#remove(this.#self);
    this.#self = identity;
    this.#upsert({identity, name, tracks: []}).local = this.#local;
    this.#render();
  }

  /** Shows what we send: our buttons' mutes, a missing device, a shared screen. */
  setLocal(/** @type {Partial<LocalState>} */ state) {
    Object.assign(this.#local, state);
    const entry = this.#self === null ? undefined : this.#entries.get(this.#self);
    const wasSharing = entry?.item.classList.contains('sharing');
    this.#render();
    if (entry && state.sharing !== undefined && wasSharing !== state.sharing) {
      this.#say(state.sharing ? 'You are sharing your screen' : 'You stopped sharing your screen');
    }
  }

  /**
   * Someone in the room; `announce` says so in the live region (not for those already there
   * when we joined).
   * @param {ParticipantInfo} info @param {boolean} announce
   */
  add(info, announce) {
    const known = this.#entries.has(info.identity);
    this.#upsert(info);
    this.#render();
    if (announce && !known) this.#say(`${info.name || info.identity} joined`);
  }

  /** Someone left. */
  remove(/** @type {string} */ identity) {
    const entry = this.#entries.get(identity);
    if (!entry || identity === this.#self) return;
    this.#remove(identity);
    this.#render();
    this.#say(`${entry.name} left`);
  }

  /** A new name for someone (e.g. their metadata changed). */
  rename(/** @type {string} */ identity, /** @type {string} */ name) {
    const entry = this.#entries.get(identity);
    if (!entry || !name) return;
    entry.name = name;
    this.#render();
  }

  /** One of someone's tracks was published, or its mute changed. */
  setTrack(/** @type {string} */ identity, /** @type {TrackInfo} */ track) {
    const entry = this.#entries.get(identity);
    if (!entry) return;
    const sharing = this.#state(entry).sharing;
    entry.tracks.set(track.id, {...track});
    this.#render();
    if (!sharing && this.#state(entry).sharing) this.#say(`${entry.name} is sharing their screen`);
  }

  removeTrack(/** @type {string} */ identity, /** @type {string} */ trackId) {
    const entry = this.#entries.get(identity);
    if (!entry?.tracks.has(trackId)) return;
    const sharing = this.#state(entry).sharing;
    entry.tracks.delete(trackId);
    this.#render();
    if (sharing && !this.#state(entry).sharing) this.#say(`${entry.name} stopped sharing their screen`);
  }

  setMuted(/** @type {string} */ identity, /** @type {string} */ trackId, /** @type {boolean} */ muted) {
    const track = this.#entries.get(identity)?.tracks.get(trackId);
    if (!track) return;
    track.muted = muted;
    this.#render();
  }

  /** Who speaks now (identities; ours included): others are not. */
  setSpeakers(/** @type {string[]} */ identities) {
    const speaking = new Set(identities);
    for (const entry of this.#entries.values()) entry.speaking = speaking.has(entry.identity);
    this.#render();
  }

  /** Everyone but us (we lost the node: the rejoin lists them again). */
  clearRemotes() {
    for (const identity of [...this.#entries.keys()]) {
      if (identity !== this.#self) this.#remove(identity);
    }
    this.#render();
  }

  /** Everyone (the call ended). */
  clear() {
    for (const identity of [...this.#entries.keys()]) this.#remove(identity);
    this.#self = null;
    this.#local = {mic: 'none', camera: 'none', sharing: false};
    this.#render();
  }

  // --- internals -------------------------------------------------------------------------------

  /** @param {{identity: string, name: string, tracks: TrackInfo[]}} info @returns {Entry} */
  #upsert({identity, name, tracks}) {
    let entry = this.#entries.get(identity);
    if (!entry) {
      const item = document.createElement('li');
      item.dataset.identity = identity;
      entry = {identity, name: '', tracks: new Map(), local: null, speaking: false, item};
      this.#entries.set(identity, entry);
    }
    entry.name = name || identity;
    for (const track of tracks) entry.tracks.set(track.id, {...track});
    return entry;
  }

  /** @param {string} identity */
  #remove(identity) {
    this.#entries.get(identity)?.item.remove();
    this.#entries.delete(identity);
  }

  /** @param {Entry} entry @returns {LocalState} */
  #state(entry) {
    if (entry.local) return {...entry.local};
    const tracks = [...entry.tracks.values()];
    const of = (/** @type {string} */ source) => {
      const mine = tracks.filter((t) => t.source === source);
      return mine.length === 0 ? 'none' : mine.every((t) => t.muted) ? 'off' : 'on';
    };
    return {mic: of('microphone'), camera: of('camera'), sharing: tracks.some((t) => t.source === 'screen')};
  }

  #sorted() {
    const others = [...this.#entries.values()].filter((e) => e.identity !== this.#self);
    others.sort((a, b) => a.name.localeCompare(b.name) || a.identity.localeCompare(b.identity));
    const self = this.#self === null ? undefined : this.#entries.get(this.#self);
    return self ? [self, ...others] : others;
  }

  /** Brings every item up to date, in order (items are kept: a reader's place in the list stays). */
  #render() {
    this.#sorted().forEach((entry, i) => {
      fill(entry, entry.identity === this.#self, this.#state(entry));
      if (this.#list.children[i] !== entry.item) this.#list.insertBefore(entry.item, this.#list.children[i] ?? null);
    });
    this.#count();
  }

  #count() {
    const count = this.#entries.size;
    this.#title.textContent = `People (${count})`;
    this.#toggle.textContent = count ? `People (${count})` : 'People';
  }

  /** @param {string} text */
  #say(text) {
    this.#announcer.textContent = text;
  }
}

/**
 * Writes an item: the name, then a badge for each thing worth saying (all text).
 * @param {Entry} entry @param {boolean} self @param {LocalState} state
 */
function fill(entry, self, state) {
  const badges = [
    state.mic === 'off' && 'mic off',
    state.mic === 'none' && 'no mic',
    state.camera === 'off' && 'camera off',
    state.camera === 'none' && 'no camera',
    entry.speaking && 'speaking',
    state.sharing && 'sharing screen',
  ].filter((text) => typeof text === 'string');
  const key = JSON.stringify([entry.name, self, badges]);
  if (entry.item.dataset.key === key) return;
  entry.item.dataset.key = key;
  entry.item.classList.toggle('speaking', entry.speaking);
  entry.item.classList.toggle('sharing', state.sharing);
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = self ? `${entry.name} (you)` : entry.name;
  entry.item.replaceChildren(name, ...badges.map((text) => {
    const badge = document.createElement('span');
    badge.className = `badge ${text.replace(/ /g, '-')}`;
    badge.textContent = text;
    return badge;
  }));
}
