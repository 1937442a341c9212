// @ts-check
/**
 * The tiles: one for us ("You") and one per remote participant, each with a name label, the
 * participant's video, its audio in its own <audio> element, and muted badges; a screen someone
 * shares gets a tile of its own, pinned when it appears if nothing else is. A remote tile
 * also has a quality menu, a badge with the layer the node forwards, and one with how well its
 * media reaches us (`setConnection`: a word, not a colour alone). Clicking a tile pins it:
 * it takes most of the stage and the others become a strip; clicking it again unpins it.
 *
 * The node's speakers light up their tiles (ours too), with a "speaking" badge for those who do
 * not see the colour; the dominant speaker's tile comes first, full width on a small screen.
 *
 * Each remote video's drawn size is reported to the node (which picks a simulcast layer from
 * it), and 0x0 while it cannot be seen: not displayed, scrolled out of view, or the page hidden.
 */

/**
 * @typedef {import('./signaling.js').Kind} Kind
 * @typedef {import('./signaling.js').Quality} Quality
 * @typedef {import('./signaling.js').Source} Source
 */

const SIZE_DEBOUNCE_MS = 250;
/** @type {Quality[]} */
const QUALITIES = ['auto', 'low', 'medium', 'high'];

/**
 * @typedef {{identity: string, kind: Kind, source: Source, muted: boolean,
 *   element: HTMLMediaElement | null}} TileTrack
 * @typedef {{trackId: string, width: number, height: number, onScreen: boolean,
 *   timer: number | undefined, sent: string}} Watched a remote video and what we know of its size
 * @typedef {{
 *   videoSize: (trackId: string, width: number, height: number) => void,
 *   videoQuality: (trackId: string, quality: Quality) => void,
 *   firstFrame: () => void,
 *   audioBlocked: () => void,
 * }} TileEvents
 */

export class TileGrid {
  /** @type {HTMLElement} */
  #container;
  /** @type {TileEvents} */
  #events;
  /** @type {Map<string, HTMLElement>} remote tiles by `tileKey` */
  #tiles = new Map();
  /** @type {Map<string, TileTrack>} remote tracks by track id */
  #tracks = new Map();
  /** @type {HTMLElement | null} */
  #local = null;
  /** @type {Map<Element, Watched>} remote videos whose size we report */
  #watched = new Map();
  #resizes = new ResizeObserver((entries) => entries.forEach((entry) => this.#resized(entry)));
  #intersections = new IntersectionObserver((entries) => entries.forEach((entry) => {
    const watched = this.#watched.get(entry.target);
    if (watched) this.#update(entry.target, watched, {onScreen: entry.isIntersecting});
  }));

  /** @param {HTMLElement} container @param {TileEvents} events */
  constructor(container, events) {
    this.#container = container;
    this.#events = events;
    document.addEventListener('visibilitychange', () => {
      for (const [video, watched] of this.#watched) this.#update(video, watched, {});
    });
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
    this.#makePinnable(tile);
    this.#container.prepend(tile);
    this.#layout();
  }

  /** Shows `stream` again in our tile (its camera changed). */
  setLocalStream(/** @type {MediaStream} */ stream) {
    const video = this.#local?.querySelector('video');
    if (!video) return;
    video.srcObject = null;
    video.srcObject = stream;
  }

  /**
   * Shows how well the media of a remote tile reaches us (null: not known yet).
   * @param {string} identity @param {'camera' | 'screen'} tile its camera's or its screen's
   * @param {import('./quality.js').QualityLevel | null} level
   */
  setConnection(identity, tile, level) {
    const badge = this.#tiles.get(tileKey({identity, source: tile}))?.querySelector('.connection-badge');
    if (!(badge instanceof HTMLElement) || badge.dataset.level === (level ?? '')) return;
    badge.dataset.level = level ?? '';
    badge.title = level ? `Connection: ${level}` : '';
    const text = badge.querySelector('.level');
    if (text) text.textContent = level ?? '';
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
    tile.querySelector('figcaption')?.append(
      this.#qualityMenu(identity), createBadge('layer-badge'), createConnectionBadge());
    this.#makePinnable(tile);
    this.#tiles.set(identity, tile);
    this.#container.append(tile);
    this.#layout();
    this.#refresh(identity);
  }

  /** A participant's new display name, on its tile (the avatar's initials too). */
  setName(/** @type {string} */ identity, /** @type {string} */ name) {
    const tile = this.#tiles.get(identity);
    const label = tile?.querySelector('.name');
    const avatar = tile?.querySelector('.avatar');
    if (label) label.textContent = name || identity;
    if (avatar) avatar.textContent = initials(name || identity);
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
   * Marks who speaks and who has the floor (identities; `self`: ours, shown on our own tile).
   * @param {string[]} speakers @param {string | null} dominant @param {string | null} self
   */
  setSpeakers(speakers, dominant, self) {
    const tileOf = (/** @type {string | null} */ identity) =>
      identity !== null && identity === self ? this.#local : this.#tiles.get(identity ?? '');
    const speaking = new Set(speakers.map(tileOf));
    const floor = tileOf(dominant);
    for (const tile of this.#container.querySelectorAll(':scope > .tile')) {
      tile.classList.toggle('speaking', speaking.has(/** @type {HTMLElement} */ (tile)));
      tile.classList.toggle('dominant', tile === floor);
    }
  }

  /** Shows which layer of a received video the node forwards (null: paused). */
  setLayer(/** @type {string} */ trackId, /** @type {string | null} */ layer) {
    const track = this.#tracks.get(trackId);
    if (track?.kind !== 'video') return; // the node may report audio tracks too
    const badge = this.#tiles.get(tileKey(track))?.querySelector('.layer-badge');
    if (!(badge instanceof HTMLElement)) return;
    badge.dataset.layer = layer ?? 'paused';
    this.#showLayer(badge, track.element);
  }

  /**
   * Records a participant's track (from the participant lists), before any media arrives.
   * @param {string} identity @param {{id: string, kind: Kind, source: Source, muted: boolean}} info
   */
  setTrack(identity, info) {
    const track = this.#tracks.get(info.id);
    if (track) track.muted = info.muted;
    else this.#tracks.set(info.id, {...info, identity, element: null});
    this.#refresh(tileKey({identity, source: info.source}));
  }

  /**
   * Plays a received track in its participant's tile (a screen in a tile of its own).
   * @param {string} identity @param {string} trackId @param {MediaStreamTrack} media
   * @param {Source} source
   */
  attach(identity, trackId, media, source) {
    this.addParticipant(identity, identity);
    const kind = /** @type {Kind} */ (media.kind);
    const track = this.#tracks.get(trackId) ?? {identity, kind, source, muted: false, element: null};
    const key = tileKey(track);
    if (!this.#tiles.has(key)) this.#addScreen(identity, key);
    this.#unwatch(track.element);
    track.element?.remove();
    track.element = createMedia(kind);
    track.element.srcObject = new MediaStream([media]);
    this.#tracks.set(trackId, track);
    this.#tiles.get(key)?.querySelector('.media')?.append(track.element);
    if (track.element instanceof HTMLVideoElement) {
      this.#watchVideo(track.element, trackId);
      const quality = this.#tiles.get(key)?.querySelector('select.quality');
      if (quality instanceof HTMLSelectElement && quality.value !== 'auto') {
        this.#events.videoQuality(trackId, /** @type {Quality} */ (quality.value));
      }
    } else {
      track.element.play().catch((err) => err.name === 'NotAllowedError' && this.#events.audioBlocked());
    }
    this.#refresh(key);
  }

  /** Stops playing a track; a screen's tile goes with its last track. */
  removeTrack(/** @type {string} */ trackId) {
    const track = this.#tracks.get(trackId);
    if (!track) return;
    this.#tracks.delete(trackId);
    this.#unwatch(track.element);
    track.element?.remove();
    const key = tileKey(track);
    if (key !== track.identity && ![...this.#tracks.values()].some((t) => tileKey(t) === key)) {
      this.#tiles.get(key)?.remove();
      this.#tiles.delete(key);
      this.#layout();
    }
    this.#refresh(key);
  }

  setMuted(/** @type {string} */ trackId, /** @type {boolean} */ muted) {
    const track = this.#tracks.get(trackId);
    if (!track) return;
    track.muted = muted;
    this.#refresh(tileKey(track));
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

  /** Arranges the tiles in a near-square grid that fills the call view (unless one is pinned). */
  #layout() {
    const pinned = this.#container.querySelector(':scope > .tile.pinned');
    this.#container.classList.toggle('has-pin', pinned !== null);
    const count = Math.max(1, this.#container.children.length);
    const cols = Math.ceil(Math.sqrt(count));
    this.#container.style.setProperty('--cols', String(cols));
    this.#container.style.setProperty('--rows', String(Math.ceil(count / cols)));
  }

  /** A tile for the screen `identity` shares, pinned unless something else is. */
  #addScreen(/** @type {string} */ identity, /** @type {string} */ key) {
    const name = this.#tiles.get(identity)?.querySelector('.name')?.textContent || identity;
    const tile = createTile(`${name} (screen)`, 'remote');
    tile.dataset.identity = identity;
    tile.dataset.source = 'screen';
    tile.querySelector('figcaption')?.append(
      this.#qualityMenu(key), createBadge('layer-badge'), createConnectionBadge());
    this.#makePinnable(tile);
    this.#tiles.set(key, tile);
    this.#container.append(tile);
    if (!this.#container.querySelector(':scope > .tile.pinned')) tile.classList.add('pinned');
    this.#layout();
  }

  /** Updates a tile's badges from the state of its tracks. */
  #refresh(/** @type {string} */ key) {
    const tile = this.#tiles.get(key);
    if (!tile) return;
    const tracks = [...this.#tracks.values()].filter((t) => tileKey(t) === key);
    const showsVideo = tracks.some((t) => t.kind === 'video' && t.element && !t.muted);
    tile.classList.toggle('video-off', !showsVideo);
    tile.classList.toggle('mic-off', tracks.some((t) => t.kind === 'audio' && t.muted));
  }

  /** Clicking a tile (not its menu) pins it, or unpins it if it is pinned. @param {HTMLElement} tile */
  #makePinnable(tile) {
    tile.tabIndex = 0;
    tile.title = 'Click to pin or unpin';
    const toggle = () => {
      const pin = !tile.classList.contains('pinned');
      for (const other of this.#container.querySelectorAll('.tile.pinned')) other.classList.remove('pinned');
      tile.classList.toggle('pinned', pin);
      this.#layout();
    };
    tile.addEventListener('click', (event) => {
      if (!(event.target instanceof Element && event.target.closest('select'))) toggle();
    });
    tile.addEventListener('keydown', (event) => {
      if (event.target === tile && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault();
        toggle();
      }
    });
  }

  /** The auto/low/medium/high menu of a remote tile. @param {string} key its `tileKey` */
  #qualityMenu(key) {
    const menu = document.createElement('select');
    menu.className = 'quality';
    menu.title = 'Video quality';
    menu.setAttribute('aria-label', 'Video quality');
    for (const quality of QUALITIES) menu.append(new Option(quality, quality));
    menu.addEventListener('change', () => {
      for (const [trackId, track] of this.#tracks) {
        if (tileKey(track) === key && track.kind === 'video' && track.element) {
          this.#events.videoQuality(trackId, /** @type {Quality} */ (menu.value));
        }
      }
    });
    return menu;
  }

  /** @param {HTMLElement} badge @param {HTMLMediaElement | null | undefined} video */
  #showLayer(badge, video) {
    const layer = badge.dataset.layer;
    const height = video instanceof HTMLVideoElement ? video.videoHeight : 0;
    badge.textContent = layer === 'paused' ? 'paused' : height ? `${height}p` : layer ?? '';
    badge.title = layer === 'paused' ? 'The node sends nothing of this video' : `Layer ${layer}`;
  }

  /** @param {HTMLVideoElement} video @param {string} trackId */
  #watchVideo(video, trackId) {
    video.requestVideoFrameCallback(() => this.#events.firstFrame());
    const watched = {trackId, width: 0, height: 0, onScreen: true, timer: undefined, sent: ''};
    this.#watched.set(video, watched);
    this.#resizes.observe(video);
    this.#intersections.observe(video);
    video.addEventListener('resize', () => {
      this.#update(video, watched, {}); // the drawn size depends on the video's aspect ratio
      const badge = video.closest('.tile')?.querySelector('.layer-badge');
      if (badge instanceof HTMLElement && badge.dataset.layer) this.#showLayer(badge, video);
    });
  }

  /** @param {HTMLMediaElement | null} element */
  #unwatch(element) {
    const watched = element && this.#watched.get(element);
    if (!element || !watched) return;
    this.#resizes.unobserve(element);
    this.#intersections.unobserve(element);
    this.#watched.delete(element);
    clearTimeout(watched.timer);
  }

  #resized(/** @type {ResizeObserverEntry} */ entry) {
    const watched = this.#watched.get(entry.target);
    const {width, height} = entry.contentRect;
    if (watched) this.#update(entry.target, watched, {width, height});
  }

  /**
   * Records what changed about a video and reports its size once things have settled.
   * @param {Element} video @param {Watched} watched
   * @param {{width?: number, height?: number, onScreen?: boolean}} change
   */
  #update(video, watched, change) {
    Object.assign(watched, change);
    clearTimeout(watched.timer);
    watched.timer = setTimeout(() => this.#report(video, watched), SIZE_DEBOUNCE_MS);
  }

  /**
   * Sends the size the video is drawn at in device pixels, if it changed: the video scaled to
   * cover its box (`object-fit: cover`, cropped: a wide box needs more lines than its height)
   * or to fit in it (`contain`, a pinned tile); 0x0 while the video cannot be seen.
   * @param {Element} video @param {Watched} watched
   */
  #report(video, watched) {
    watched.timer = undefined;
    let {width, height} = watched;
    const seen = watched.onScreen && document.visibilityState !== 'hidden' && width > 0 && height > 0;
    if (!seen) {
      width = height = 0;
    } else if (video instanceof HTMLVideoElement && video.videoWidth && video.videoHeight) {
      const fit = getComputedStyle(video).objectFit === 'contain' ? Math.min : Math.max;
      const scale = fit(width / video.videoWidth, height / video.videoHeight);
      width = video.videoWidth * scale;
      height = video.videoHeight * scale;
    }
    const dpr = window.devicePixelRatio || 1;
    width = Math.round(width * dpr);
    height = Math.round(height * dpr);
    if (watched.sent === `${width}x${height}`) return;
    watched.sent = `${width}x${height}`;
    this.#events.videoSize(watched.trackId, width, height);
  }
}

/**
 * The tile a track plays in: its participant's, or for a shared screen (and its sound) one of
 * its own.
 * @param {{identity: string, source: Source}} track
 */
function tileKey({identity, source}) {
  return source === 'screen' || source === 'screen_audio' ? `${identity}/screen` : identity;
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
  const mic = createBadge('mic-badge');
  mic.textContent = 'mic off';
  const speaking = createBadge('speaking-badge');
  speaking.textContent = 'speaking';
  caption.append(label, mic, speaking);
  tile.append(avatar, media, caption);
  return tile;
}

/** @param {string} name */
function createBadge(name) {
  const badge = document.createElement('span');
  badge.className = `badge ${name}`;
  return badge;
}

/** A remote tile's connection badge: bars for the eye, the level in words for everyone. */
function createConnectionBadge() {
  const badge = createBadge('connection-badge');
  badge.dataset.level = '';
  const bars = document.createElement('span');
  bars.className = 'bars';
  bars.setAttribute('aria-hidden', 'true');
  const hidden = document.createElement('span');
  hidden.className = 'sr-only';
  hidden.textContent = 'connection ';
  const level = document.createElement('span');
  level.className = 'level';
  badge.append(bars, hidden, level);
  return badge;
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
