// @ts-check
/**
 * The tiles: one for us ("You") and one per remote participant, each with a name label, the
 * participant's video, its audio in its own <audio> element, and muted badges.
 */

/** @typedef {import('./signaling.js').Kind} Kind */

const SIZE_DEBOUNCE_MS = 250;

/**
 * @typedef {{identity: string, kind: Kind, muted: boolean, element: HTMLMediaElement | null}} TileTrack
 * @typedef {{
 *   videoSize: (trackId: string, width: number, height: number) => void,
 *   firstFrame: () => void,
 *   audioBlocked: () => void,
 * }} TileEvents
 */

export class TileGrid {
  /** @type {HTMLElement} */
  #container;
  /** @type {TileEvents} */
  #events;
  /** @type {Map<string, HTMLElement>} remote tiles by identity */
  #tiles = new Map();
  /** @type {Map<string, TileTrack>} remote tracks by track id */
  #tracks = new Map();
  /** @type {HTMLElement | null} */
  #local = null;
  /** @type {Map<Element, string>} observed videos → track id */
  #observed = new Map();
  #resizes = new ResizeObserver((entries) => entries.forEach((entry) => this.#resized(entry)));
  /** @type {Map<string, number>} pending size reports by track id */
  #sizeTimers = new Map();

  /** @param {HTMLElement} container @param {TileEvents} events */
  constructor(container, events) {
    this.#container = container;
    this.#events = events;
  }

  /** Shows our own camera (mirrored, muted); `stream` is null for a viewer. */
  showLocal(/** @type {MediaStream | null} */ stream) {
    this.#local?.remove();
    const tile = createTile('You', 'local');
    if (stream?.getVideoTracks().length) {
      const video = createMedia('video');
      video.muted = true;
      video.srcObject = stream;
      tile.querySelector('.media')?.append(video);
    } else {
      tile.classList.add('video-off');
    }
    this.#local = tile;
    this.#container.prepend(tile);
    this.#layout();
  }

  /** Marks our own camera or microphone as muted. */
  setLocalMuted(/** @type {Kind} */ kind, /** @type {boolean} */ muted) {
    this.#local?.classList.toggle(kind === 'video' ? 'video-off' : 'mic-off', muted);
  }

  /** Adds a tile for a participant (no-op if it is there). */
  addParticipant(/** @type {string} */ identity, /** @type {string} */ name) {
    if (this.#tiles.has(identity)) return;
    const tile = createTile(name || identity, 'remote');
    tile.dataset.identity = identity;
    this.#tiles.set(identity, tile);
    this.#container.append(tile);
    this.#layout();
    this.#refresh(identity);
  }

  removeParticipant(/** @type {string} */ identity) {
    for (const [trackId, track] of this.#tracks) {
      if (track.identity === identity) this.removeTrack(trackId);
    }
    this.#tiles.get(identity)?.remove();
    this.#tiles.delete(identity);
    this.#layout();
  }

  /**
   * Records a participant's track (from the participant lists), before any media arrives.
   * @param {string} identity @param {{id: string, kind: Kind, muted: boolean}} info
   */
  setTrack(identity, info) {
    const track = this.#tracks.get(info.id);
    if (track) track.muted = info.muted;
    else this.#tracks.set(info.id, {identity, kind: info.kind, muted: info.muted, element: null});
    this.#refresh(identity);
  }

  /**
   * Plays a received track in its participant's tile.
   * @param {string} identity @param {string} trackId @param {MediaStreamTrack} media
   */
  attach(identity, trackId, media) {
    this.addParticipant(identity, identity);
    const kind = /** @type {Kind} */ (media.kind);
    const track = this.#tracks.get(trackId) ?? {identity, kind, muted: false, element: null};
    this.#unwatch(track.element);
    track.element?.remove();
    track.element = createMedia(kind);
    track.element.srcObject = new MediaStream([media]);
    this.#tracks.set(trackId, track);
    this.#tiles.get(identity)?.querySelector('.media')?.append(track.element);
    if (track.element instanceof HTMLVideoElement) this.#watchVideo(track.element, trackId);
    else track.element.play().catch((err) => err.name === 'NotAllowedError' && this.#events.audioBlocked());
    this.#refresh(identity);
  }

  removeTrack(/** @type {string} */ trackId) {
    const track = this.#tracks.get(trackId);
    if (!track) return;
    this.#tracks.delete(trackId);
    this.#unwatch(track.element);
    track.element?.remove();
    this.#refresh(track.identity);
  }

  setMuted(/** @type {string} */ trackId, /** @type {boolean} */ muted) {
    const track = this.#tracks.get(trackId);
    if (!track) return;
    track.muted = muted;
    this.#refresh(track.identity);
  }

  /** Starts audio the browser's autoplay policy held back; call it from a user gesture. */
  resumeAudio() {
    for (const {element} of this.#tracks.values()) {
      if (element instanceof HTMLAudioElement && element.paused) element.play().catch(() => {});
    }
  }

  /** Removes every remote tile (the local one stays). */
  clearRemotes() {
    for (const identity of [...this.#tiles.keys()]) this.removeParticipant(identity);
    this.#tracks.clear();
  }

  /** Removes every tile. */
  clear() {
    this.clearRemotes();
    this.#local?.remove();
    this.#local = null;
    this.#layout();
  }

  // --- internals -------------------------------------------------------------------------------

  /** Arranges the tiles in a near-square grid that fills the call view. */
  #layout() {
    const count = Math.max(1, this.#container.children.length);
    const cols = Math.ceil(Math.sqrt(count));
    this.#container.style.setProperty('--cols', String(cols));
    this.#container.style.setProperty('--rows', String(Math.ceil(count / cols)));
  }

  /** Updates a tile's badges from the state of its tracks. */
  #refresh(/** @type {string} */ identity) {
    const tile = this.#tiles.get(identity);
    if (!tile) return;
    const tracks = [...this.#tracks.values()].filter((t) => t.identity === identity);
    const showsVideo = tracks.some((t) => t.kind === 'video' && t.element && !t.muted);
    tile.classList.toggle('video-off', !showsVideo);
    tile.classList.toggle('mic-off', tracks.some((t) => t.kind === 'audio' && t.muted));
  }

  /** @param {HTMLVideoElement} video @param {string} trackId */
  #watchVideo(video, trackId) {
    video.requestVideoFrameCallback(() => this.#events.firstFrame());
    this.#observed.set(video, trackId);
    this.#resizes.observe(video);
  }

  /** @param {HTMLMediaElement | null} element */
  #unwatch(element) {
    const trackId = element && this.#observed.get(element);
    if (!element || !trackId) return;
    this.#resizes.unobserve(element);
    this.#observed.delete(element);
    clearTimeout(this.#sizeTimers.get(trackId));
    this.#sizeTimers.delete(trackId);
  }

  /** Reports a video's drawn size in device pixels, once it has settled. */
  #resized(/** @type {ResizeObserverEntry} */ entry) {
    const trackId = this.#observed.get(entry.target);
    if (!trackId) return;
    const scale = window.devicePixelRatio || 1;
    const width = Math.round(entry.contentRect.width * scale);
    const height = Math.round(entry.contentRect.height * scale);
    clearTimeout(this.#sizeTimers.get(trackId));
    this.#sizeTimers.set(trackId, setTimeout(() => {
      this.#sizeTimers.delete(trackId);
      this.#events.videoSize(trackId, width, height);
    }, SIZE_DEBOUNCE_MS));
  }
}

/** @param {string} name @param {'local' | 'remote'} side */
function createTile(name, side) {
  const tile = document.createElement('figure');
  tile.className = `tile ${side}`;
  const avatar = document.createElement('div');
  avatar.className = 'avatar';
  avatar.textContent = initials(name);
  const media = document.createElement('div');
  media.className = 'media';
  const caption = document.createElement('figcaption');
  const label = document.createElement('span');
  label.className = 'name';
  label.textContent = name;
  const mic = document.createElement('span');
  mic.className = 'badge mic-badge';
  mic.textContent = 'mic off';
  caption.append(label, mic);
  tile.append(avatar, media, caption);
  return tile;
}

/** @param {Kind} kind @returns {HTMLMediaElement} */
function createMedia(kind) {
  const element = document.createElement(kind);
  element.autoplay = true;
  if (element instanceof HTMLVideoElement) {
    element.playsInline = true;
    element.muted = true; // its sound, if any, plays through the separate <audio> element
  }
  return element;
}

/** @param {string} name */
function initials(name) {
  const words = name.trim().split(/[\s._-]+/).filter(Boolean);
  return words.slice(0, 2).map((w) => w[0].toUpperCase()).join('') || '?';
}
