// @ts-check
/**
 * The page: the join form, the call view and its buttons, the chat, the people list, the device
 * picker, the invite link, each remote tile's connection quality, reconnects, and `window.sfu`,
 * the view of the call that the browser tests use (read-only, but for `chat` and `sendData`,
 * which send as the panel does).
 */
import {CHAT_TOPIC, ChatPanel} from './chat.js';
import {DevicePicker} from './devices.js';
import {copyLink, inviteLink} from './invite.js';
import {disclosure} from './panel.js';
import {PeopleList} from './people.js';
import {qualityLevel, tileSample} from './quality.js';
import {Session} from './session.js';
import {SignalingClosed, isRefusal} from './signaling.js';
import {TicketError, getTicket} from './ticket.js';
import {TileGrid} from './ui.js';

/**
 * @typedef {import('./ticket.js').JoinParams} JoinParams
 * @typedef {import('./session.js').Ending} Ending
 * @typedef {import('./session.js').SessionEvents} SessionEvents
 * @typedef {import('./session.js').SessionStats} SessionStats
 * @typedef {import('./signaling.js').Kind} Kind
 * @typedef {import('./signaling.js').Joined} Joined
 * @typedef {import('./signaling.js').ParticipantInfo} ParticipantInfo
 * @typedef {'idle' | 'joining' | 'joined' | 'left' | 'error'} State
 *
 * @typedef {{
 *   params: JoinParams,
 *   media: Promise<MediaStream | null>,
 *   session: Session | null,
 *   stream: MediaStream | null,
 *   participants: Map<string, string>,
 *   infos: Map<string, ParticipantInfo>,
 *   attempts: number,
 *   joinedAt: number,
 *   over: boolean,
 * }} Call (`stream`: `media` once it came)
 * @typedef {{label: string, deviceId: string, enabled: boolean}} TrackView
 */

/**
 * Waits between reconnect attempts; their number bounds the attempts. Tries are dense for the
 * first ~6 s: a node that died is reported dead within 5 s, and only then do new tokens name
 * another node.
 */
const RECONNECT_DELAYS_MS = [500, 1000, 1000, 1000, 1000, 1000, 2000, 4000, 8000];
/** A session that lasted this long earns a fresh set of reconnect attempts. */
const STABLE_SESSION_MS = 30_000;
const CAMERA = {audio: true, video: {width: {ideal: 1280}, height: {ideal: 720}}};
/** How often each remote tile's connection quality is judged anew (from the stats between). */
const QUALITY_INTERVAL_MS = 3_000;
/** How long "link copied" stays. */
const INVITE_STATUS_MS = 6_000;
/** What a refusal means, for the person in front of the page. */
const CLOSE_TEXT = new Map([
  [4400, 'the node did not accept the join request'],
  [4401, 'the join token was refused'],
  [4403, 'the join token does not allow this'],
  [4404, 'this room does not exist'],
  [4409, 'you joined this room from somewhere else'],
  [4410, 'you were removed from the room'],
  [1000, 'the room was closed'],
]);

const view = {
  form: /** @type {HTMLFormElement} */ (byId('join-form')),
  room: /** @type {HTMLInputElement} */ (byId('room-input')),
  name: /** @type {HTMLInputElement} */ (byId('name-input')),
  formError: byId('form-error'),
  call: byId('call'),
  notice: byId('notice'),
  status: byId('status'),
  roomLabel: byId('room-label'),
  mic: /** @type {HTMLButtonElement} */ (byId('mute-mic')),
  camera: /** @type {HTMLButtonElement} */ (byId('mute-camera')),
  share: /** @type {HTMLButtonElement} */ (byId('share-screen')),
  leave: /** @type {HTMLButtonElement} */ (byId('leave')),
  invite: /** @type {HTMLButtonElement} */ (byId('invite-button')),
  inviteStatus: byId('invite-status'),
  inviteLink: /** @type {HTMLInputElement} */ (byId('invite-link')),
};

const chat = new ChatPanel({
  panel: byId('chat'),
  list: byId('chat-messages'),
  form: /** @type {HTMLFormElement} */ (byId('chat-form')),
  input: /** @type {HTMLInputElement} */ (byId('chat-input')),
  toggle: /** @type {HTMLButtonElement} */ (byId('chat-toggle')),
}, sendChat);

const people = new PeopleList({
  panel: byId('people'),
  list: byId('people-list'),
  title: byId('people-title'),
  toggle: /** @type {HTMLButtonElement} */ (byId('people-toggle')),
  announcer: byId('people-announce'),
});

const devices = new DevicePicker({
  camera: /** @type {HTMLSelectElement} */ (byId('camera-select')),
  microphone: /** @type {HTMLSelectElement} */ (byId('mic-select')),
}, switchDevice);
disclosure(/** @type {HTMLButtonElement} */ (byId('settings-toggle')), byId('settings'),
  () => byId('camera-select').focus());

const sfu = {
  /** @type {State} */
  state: 'idle',
  /** @type {string | null} */
  identity: null,
  /** @type {string | null} */
  error: null,
  /** @type {import('./signaling.js').ErrorFrame[]} the node's `error` frames, oldest first */
  errors: [],
  /** @type {import('./signaling.js').Speakers | null} the node's last `speakers` message */
  speakers: null,
  /** @type {{load: number, joined?: number, firstRemoteFrame?: number}} */
  timeline: {load: performance.now()},
  stats,
  /** Sends `text` to the room's chat, as the chat panel does; false if not in a call. */
  chat: sendChat,
  /** The chat panel's messages (ours too), oldest first. */
  get chatMessages() { return chat.messages; },
  /** Sends any data message (docs/signaling.md). @param {Parameters<Session['sendData']>[0]} message */
  sendData: (message) => call?.session?.sendData(message),
  /** Everyone in the room as the people panel lists them, us first. */
  people: () => people.people,
  /** The cameras and microphones to choose from, and the tracks we capture and send. */
  devices: () => ({...devices.devices, capturing: call && tracksNow(call), sending: sentTracks()}),
  /** @type {Record<string, {camera?: string | null, screen?: string | null}>} each remote
   *  tile's connection quality, by identity */
  connection: {},
  /** @type {{link: string, copied: boolean} | null} the last invite made */
  invite: null,
  /** Everyone in the call, us too, with the name, metadata and attributes the node last told. */
  participants: () => [...(call?.infos.values() ?? [])].map(
    ({identity, name, metadata, attributes}) => ({identity, name, metadata, attributes})),
};
Object.assign(window, {sfu});

const grid = new TileGrid(byId('tiles'), {
  videoSize: (trackId, width, height) => call?.session?.sendVideoSize(trackId, width, height),
  videoQuality: (trackId, quality) => call?.session?.sendVideoQuality(trackId, quality),
  firstFrame: () => { sfu.timeline.firstRemoteFrame ??= performance.now(); },
  audioBlocked: () => {
    showNotice('Click anywhere to turn the sound on.');
    document.addEventListener('click', () => { grid.resumeAudio(); showNotice(''); }, {once: true});
  },
});

/** @type {Call | null} */
let call = null;

// --- joining and leaving ---------------------------------------------------------------------

/** @param {JoinParams} params */
async function startCall(params) {
  const current = call = {
    params, media: acquireMedia(), session: null, stream: null, participants: new Map(), attempts: 0, joinedAt: 0,
    over: false, infos: new Map(),
  };
  sfu.error = null;
  chat.clear();
  setState('joining', 'Joining…');
  view.roomLabel.textContent = params.room;
  current.media.then((stream) => showLocalMedia(current, stream));
  try {
    await connect(current);
  } catch (err) {
    fail(current, err);
  }
}

/** Gets a token, joins, and publishes whatever media we have. @param {Call} current */
async function connect(current) {
  const ticket = await getTicket(current.params);
  const {session, joined} = await Session.open({
    url: ticket.url, room: current.params.room, token: ticket.token, events: sessionEvents(current),
  });
  if (current.over) {
    session.close();
    return;
  }
  current.session = session;
  onJoined(current, joined);
  const stream = await current.media;
  try {
    if (stream) await session.publish(stream);
  } catch (err) {
    if (current.session === session) throw err;
    // else the session ended meanwhile, and onEnded decided what comes next
  }
}

/** @param {Call} current @param {Joined} joined */
function onJoined(current, joined) {
  sfu.identity = joined.participant.identity;
  current.infos.set(sfu.identity, joined.participant);
  sfu.timeline.joined ??= performance.now();
  current.joinedAt = performance.now();
  people.setSelf(joined.participant.identity, joined.participant.name || current.params.name);
  for (const participant of joined.participants) addParticipant(current, participant, false);
  setState('joined', '');
}

/** @param {Call} current @returns {SessionEvents} */
function sessionEvents(current) {
  return {
    participantJoined: (participant) => addParticipant(current, participant, true),
    participantUpdated: (participant) => {
      current.infos.set(participant.identity, participant);
      if (participant.identity === sfu.identity) return;
      current.participants.set(participant.identity, participant.name);
      grid.setName(participant.identity, participant.name);
      people.rename(participant.identity, participant.name);
    },
    participantLeft: (identity) => {
      current.participants.delete(identity);
      current.infos.delete(identity);
      grid.removeParticipant(identity);
      people.remove(identity);
      delete sfu.connection[identity];
    },
    trackPublished: (identity, track) => {
      grid.setTrack(identity, track);
      people.setTrack(identity, track);
    },
    // its tile goes at once; the subscribe offer that removes its m-line follows
    trackUnpublished: (identity, trackId) => {
      grid.removeTrack(trackId);
      people.removeTrack(identity, trackId);
    },
    trackAdded: ({trackId, participant, receiver, source}) =>
      grid.attach(participant, trackId, receiver.track, source),
    trackRemoved: (trackId) => grid.removeTrack(trackId),
    trackMuted: (identity, trackId, muted) => {
      grid.setMuted(trackId, muted);
      people.setMuted(identity, trackId, muted);
    },
    stoppedByServer: (source) => {
      if (source === 'screen') setShareButton(false);
      else people.setLocal(source === 'camera' ? {camera: 'none'} : {mic: 'none'});
      showNotice(`The room's host stopped your ${source === 'screen' ? 'screen share' : source}.`);
    },
    mutedByServer: (kind, muted) => {
      setMuted(current, kind, muted);
      showNotice(`Your ${kind === 'video' ? 'camera' : 'microphone'} was ${muted ? 'muted' : 'unmuted'} by the room's host.`);
    },
    layerChanged: (trackId, layer) => grid.setLayer(trackId, layer),
    speakers: (msg) => {
      sfu.speakers = msg;
      const speaking = msg.speakers.map((s) => s.participant);
      grid.setSpeakers(speaking, msg.dominant, sfu.identity);
      people.setSpeakers(speaking);
    },
    error: (frame) => {
      console.warn('signaling error', frame);
      sfu.errors.push(frame);
      showNotice(frame.ref
        ? `The node refused ${frame.ref}: ${frame.message} (${frame.code})`
        : `${frame.message} (${frame.code})`);
    },
    data: (msg) => {
      if (msg.topic !== CHAT_TOPIC) return;
      const name = current.participants.get(msg.from) ?? msg.from;
      chat.add({from: msg.from, name, text: msg.payload, ts: msg.ts, own: false});
    },
    ended: (ending) => onEnded(current, ending),
  };
}

/** @param {string} text */
function sendChat(text) {
  const session = call?.session;
  if (!session || !sfu.identity) return false;
  session.sendData({payload: text, topic: CHAT_TOPIC});
  chat.add({from: sfu.identity, name: 'You', text, ts: Date.now(), own: true});
  return true;
}

/**
 * @param {Call} current @param {ParticipantInfo} participant
 * @param {boolean} arrived it joined after us (the people panel says so)
 */
function addParticipant(current, participant, arrived) {
  current.participants.set(participant.identity, participant.name);
  people.add(participant, arrived);
  current.infos.set(participant.identity, participant);
  grid.addParticipant(participant.identity, participant.name);
  for (const track of participant.tracks) grid.setTrack(participant.identity, track);
}

/** @param {Call} current @param {Ending} ending */
function onEnded(current, ending) {
  current.session = null;
  setShareButton(false); // a rejoin does not share again by itself
  if (current.over) return;
  if (!ending.retry) {
    fail(current, new SignalingClosed(ending.code, ending.reason));
    return;
  }
  if (performance.now() - current.joinedAt > STABLE_SESSION_MS) current.attempts = 0;
  reconnect(current, ending.reason);
}

/** Rejoins with a fresh token after the connection to the node was lost. */
async function reconnect(/** @type {Call} */ current, /** @type {string} */ why) {
  current.participants.clear();
  current.infos.clear();
  grid.clearRemotes();
  people.clearRemotes();
  sfu.connection = {};
  /** @type {unknown} */
  let lastError = new Error(why);
  while (current.attempts < RECONNECT_DELAYS_MS.length) {
    const delay = RECONNECT_DELAYS_MS[current.attempts++];
    setState('joining', `Reconnecting (${why || 'connection lost'})…`);
    await sleep(delay);
    if (current.over) return;
    try {
      await connect(current);
      return;
    } catch (err) {
      lastError = err;
      if (!canRetry(err)) break;
      why = describe(err);
    }
  }
  fail(current, lastError);
}

/** Ends the call because of `err` and shows why. @param {Call} current @param {unknown} err */
function fail(current, err) {
  if (current.over) return;
  console.error(err);
  endCall(current);
  sfu.error = describe(err);
  view.formError.textContent = sfu.error;
  view.formError.hidden = false;
  setState('error', '');
}

function leave() {
  if (!call || call.over) return;
  call.session?.leave();
  endCall(call);
  setState('left', '');
}

/** @param {Call} current */
function endCall(current) {
  current.over = true;
  setShareButton(false);
  current.session?.close();
  current.session = null;
  current.participants.clear();
  current.infos.clear();
  current.media.then((stream) => stream?.getTracks().forEach((track) => track.stop()));
  grid.clear();
  people.clear();
  devices.clear();
  sfu.connection = {};
  view.inviteStatus.textContent = '';
  view.inviteLink.hidden = true;
  showNotice('');
}

// --- local media -----------------------------------------------------------------------------

/** The camera and microphone, or null if we may not have them (then we only watch). */
async function acquireMedia() {
  try {
    return await navigator.mediaDevices.getUserMedia(CAMERA);
  } catch (err) {
    console.warn('getUserMedia failed', err);
    return null;
  }
}

/** @param {Call} current @param {MediaStream | null} stream */
function showLocalMedia(current, stream) {
  if (current.over) return;
  current.stream = stream;
  grid.showLocal(stream);
  setMuteButton('audio', false);
  setMuteButton('video', false);
  view.mic.disabled = !stream?.getAudioTracks().length;
  view.camera.disabled = !stream?.getVideoTracks().length;
  people.setLocal({
    mic: stream?.getAudioTracks().length ? 'on' : 'none',
    camera: stream?.getVideoTracks().length ? 'on' : 'none',
  });
  devices.refresh(() => Object.fromEntries(
    Object.entries(tracksNow(current)).map(([kind, track]) => [kind, track?.deviceId])));
  if (!stream) showNotice('No camera or microphone available: you joined as a viewer.');
}

/** Shares a screen (the browser asks which), or stops sharing it. */
async function toggleShare() {
  const session = call?.session;
  if (!session) return;
  if (session.sharing) {
    session.stopScreen();
    setShareButton(false);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({video: {frameRate: {ideal: 15}}});
  } catch (err) {
    console.warn('getDisplayMedia failed', err);
    return; // the person chose not to share
  }
  const [track] = stream.getVideoTracks();
  if (call?.session !== session || !track) {
    stream.getTracks().forEach((t) => t.stop());
    return;
  }
  session.shareScreen(track);
  setShareButton(true);
  track.addEventListener('ended', () => setShareButton(false));
}

/** @param {boolean} sharing */
function setShareButton(sharing) {
  people.setLocal({sharing});
  view.share.setAttribute('aria-pressed', String(sharing));
  view.share.textContent = sharing ? 'Stop sharing' : 'Share screen';
}

/** @param {Kind} kind */
async function toggleMute(kind) {
  const stream = call && await call.media;
  if (!call || !stream) return;
  const tracks = kind === 'video' ? stream.getVideoTracks() : stream.getAudioTracks();
  await setMuted(call, kind, tracks.some((track) => track.enabled));
  call.session?.announceMute(kind);
}

/** Mutes or unmutes our camera or microphone (its `enabled` flag) and shows it. */
async function setMuted(/** @type {Call} */ current, /** @type {Kind} */ kind, /** @type {boolean} */ muted) {
  const stream = await current.media;
  const tracks = (kind === 'video' ? stream?.getVideoTracks() : stream?.getAudioTracks()) ?? [];
  for (const track of tracks) track.enabled = !muted;
  grid.setLocalMuted(kind, muted);
  if (tracks.length) people.setLocal(kind === 'video' ? {camera: muted ? 'off' : 'on'} : {mic: muted ? 'off' : 'on'});
  setMuteButton(kind, muted);
}

/** @param {Kind} kind @param {boolean} muted */
function setMuteButton(kind, muted) {
  const button = kind === 'video' ? view.camera : view.mic;
  button.setAttribute('aria-pressed', String(muted));
  button.textContent = `${muted ? 'Unmute' : 'Mute'} ${kind === 'video' ? 'camera' : 'mic'}`;
}

// --- devices -----------------------------------------------------------------------------------

/**
 * Captures from another camera or microphone and sends it instead, on the same sender
 * (`replaceTrack`: no renegotiation); the new track keeps the old one's mute, and our tile shows
 * the new camera. False if it could not (the old device stays).
 * @param {Kind} kind @param {string} deviceId
 */
async function switchDevice(kind, deviceId) {
  const current = call;
  const stream = current && await current.media;
  if (!current || !stream || current.over) return false;
  const [old] = kind === 'video' ? stream.getVideoTracks() : stream.getAudioTracks();
  if (!old) return false;
  if (old.getSettings().deviceId === deviceId) return true;
  const what = kind === 'video' ? 'camera' : 'microphone';
  /** @type {MediaStreamTrack} */
  let track;
  try {
    const constraints = {...(kind === 'video' ? CAMERA.video : {}), deviceId: {exact: deviceId}};
    const captured = await navigator.mediaDevices.getUserMedia({[kind]: constraints});
    [track] = captured.getTracks();
  } catch (err) {
    showNotice(`Cannot use that ${what}: ${err instanceof Error ? err.message : err}`);
    return false;
  }
  if (current.over || !stream.getTracks().includes(old)) {
    track.stop(); // the call ended, or another switch won
    return false;
  }
  track.enabled = old.enabled;
  try {
    await current.session?.replaceTrack(kind, track);
  } catch (err) {
    track.stop();
    showNotice(`Cannot send that ${what}: ${err instanceof Error ? err.message : err}`);
    return false;
  }
  stream.removeTrack(old);
  stream.addTrack(track);
  old.stop();
  if (kind === 'video') grid.setLocalStream(stream);
  return true;
}

/** What we capture, by kind. @param {Call} current @returns {Record<Kind, TrackView | null>} */
function tracksNow(current) {
  const stream = current.stream;
  return {video: trackView(stream?.getVideoTracks()[0]), audio: trackView(stream?.getAudioTracks()[0])};
}

/** What the session sends, by kind. @returns {Record<Kind, TrackView | null>} */
function sentTracks() {
  const session = call?.session;
  return {video: trackView(session?.sentTrack('video')), audio: trackView(session?.sentTrack('audio'))};
}

/** @param {MediaStreamTrack | null | undefined} track @returns {TrackView | null} */
function trackView(track) {
  return track
    ? {label: track.label, deviceId: track.getSettings().deviceId ?? '', enabled: track.enabled}
    : null;
}

// --- connection quality ------------------------------------------------------------------------

/** @type {{session: Session, stats: SessionStats, at: number} | null} the last judged snapshot */
let lastQuality = null;

/** Judges each remote tile's connection from the stats since the last time, and shows it. */
async function judgeConnections() {
  const session = call?.session;
  if (!session) {
    lastQuality = null;
    return;
  }
  const stats = await session.stats();
  const at = performance.now();
  const before = lastQuality?.session === session ? lastQuality : null;
  const seconds = before ? (at - before.at) / 1000 : 0;
  if (call?.session !== session) return;
  for (const [identity, remote] of Object.entries(stats.remotes)) {
    const was = before?.stats.remotes[identity];
    const camera = judge(was && {video: was.video, audio: was.audio}, {video: remote.video, audio: remote.audio});
    const screen = remote.screen && judge(was && {video: was.screen, audio: null}, {video: remote.screen, audio: null});
    grid.setConnection(identity, 'camera', camera);
    grid.setConnection(identity, 'screen', screen);
    sfu.connection[identity] = {camera, screen};
  }
  lastQuality = {session, stats, at};

  /** @param {import('./quality.js').TileMedia | undefined} was @param {import('./quality.js').TileMedia} now */
  function judge(was, now) {
    const sample = tileSample(was, now, seconds, before?.at ?? at);
    return sample && qualityLevel(sample);
  }
}

// --- invite --------------------------------------------------------------------------------------

let inviteTimer = 0;

/** Copies a link to this room, or shows it where the clipboard cannot take it. */
async function invite() {
  const room = call?.params.room;
  if (!room) return;
  const link = inviteLink(location.href, room);
  const copied = await copyLink(link);
  sfu.invite = {link, copied};
  clearTimeout(inviteTimer);
  view.inviteLink.value = link;
  view.inviteLink.hidden = copied;
  if (copied) {
    view.inviteStatus.textContent = 'Invite link copied to the clipboard.';
    inviteTimer = setTimeout(() => { view.inviteStatus.textContent = ''; }, INVITE_STATUS_MS);
  } else {
    view.inviteStatus.textContent = 'Copy this invite link:';
    view.inviteLink.focus();
    view.inviteLink.select();
  }
}

// --- window.sfu.stats ------------------------------------------------------------------------

/**
 * What the call receives and sends, per remote participant (name, video and audio inbound stats),
 * for our published camera (per simulcast layer), the subscribe connection's ports and the node's
 * estimate of our downlink.
 * @returns {Promise<{remotes: Record<string, {name: string} & SessionStats['remotes'][string]>,
 *   publish: SessionStats['publish'], subscribe: SessionStats['subscribe'],
 *   downlink: SessionStats['downlink']}>}
 */
async function stats() {
  const session = call?.session;
  /** @type {SessionStats} */
  const snapshot = session
    ? await session.stats()
    : {remotes: {}, publish: {outbound: [], audioPacketsSent: 0}, subscribe: null, downlink: null};
  const names = new Map(call?.participants ?? []);
  for (const identity of Object.keys(snapshot.remotes)) {
    if (!names.has(identity)) names.set(identity, identity);
  }
  /** @type {Record<string, {name: string} & SessionStats['remotes'][string]>} */
  const remotes = {};
  for (const [identity, name] of names) {
    remotes[identity] = {name, ...(snapshot.remotes[identity] ?? {video: null, audio: null})};
  }
  const {publish, subscribe, downlink} = snapshot;
  return {remotes, publish, subscribe, downlink};
}

// --- view --------------------------------------------------------------------------------------

/** @param {State} state @param {string} status */
function setState(state, status) {
  sfu.state = state;
  document.body.dataset.state = state;
  view.status.textContent = status;
  const inCall = state === 'joining' || state === 'joined';
  view.call.hidden = !inCall;
  view.form.hidden = inCall;
  if (inCall) view.formError.hidden = true;
}

function showNotice(/** @type {string} */ text) {
  view.notice.textContent = text;
  view.notice.hidden = !text;
}

/** @param {unknown} err */
function describe(err) {
  if (err instanceof SignalingClosed) {
    const meaning = CLOSE_TEXT.get(err.code);
    return [meaning, err.reason].filter(Boolean).join(': ') + ` (code ${err.code})`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** @param {unknown} err */
function canRetry(err) {
  if (err instanceof SignalingClosed) return err.code !== 1000 && !isRefusal(err.code);
  if (err instanceof TicketError) return err.retry;
  return err instanceof TypeError; // fetch: the network failed
}

/** @param {string} id */
function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element;
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- start -----------------------------------------------------------------------------------

/** An identity for someone who only typed a name: the name as a slug, and a random suffix. */
function newIdentity(/** @type {string} */ name) {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 24);
  return `${slug || 'guest'}-${Math.random().toString(36).slice(2, 6)}`;
}

/** @returns {JoinParams} */
function paramsFromUrl() {
  const query = new URLSearchParams(location.search);
  const identity = query.get('identity') ?? '';
  return {
    room: query.get('room') ?? '',
    identity,
    name: query.get('name') ?? identity,
    token: query.get('token') ?? '',
    url: query.get('url') ?? '',
  };
}

function main() {
  const params = paramsFromUrl();
  view.room.value = params.room;
  view.name.value = params.name;
  view.form.addEventListener('submit', (event) => {
    event.preventDefault();
    const room = view.room.value.trim();
    const name = view.name.value.trim();
    startCall({...params, room, name, identity: params.identity || newIdentity(name)});
  });
  view.mic.addEventListener('click', () => toggleMute('audio'));
  view.camera.addEventListener('click', () => toggleMute('video'));
  view.share.addEventListener('click', toggleShare);
  view.leave.addEventListener('click', leave);
  view.invite.addEventListener('click', invite);
  setInterval(() => judgeConnections().catch((err) => console.warn('connection quality', err)),
    QUALITY_INTERVAL_MS);
  window.addEventListener('pagehide', leave);
  setState('idle', '');
  if (params.room && (params.identity || (params.token && params.url))) startCall(params);
}

main();
