// @ts-check
/**
 * One stay in a room: the signaling socket, the publish connection (we offer once) and the
 * subscribe connection (the node offers whenever the set of tracks we receive changes).
 * A Session never reconnects itself: when it ends it says whether trying again could help.
 */
import {Signaling, isRefusal} from './signaling.js';

/**
 * @typedef {import('./signaling.js').Kind} Kind
 * @typedef {import('./signaling.js').Source} Source
 * @typedef {import('./signaling.js').TrackInfo} TrackInfo
 * @typedef {import('./signaling.js').ParticipantInfo} ParticipantInfo
 * @typedef {import('./signaling.js').ServerMessage} ServerMessage
 * @typedef {import('./signaling.js').PublishAnswer} PublishAnswer
 * @typedef {import('./signaling.js').SubscribeOffer} SubscribeOffer
 * @typedef {import('./signaling.js').ErrorFrame} ErrorFrame
 * @typedef {import('./signaling.js').Joined} Joined
 * @typedef {import('./signaling.js').PublisherLayers} PublisherLayers
 * @typedef {import('./signaling.js').Quality} Quality
 * @typedef {import('./signaling.js').Speakers} Speakers
 *
 * @typedef {{trackId: string, participant: string, kind: Kind, source: Source, mid: string,
 *   receiver: RTCRtpReceiver}} RemoteTrack
 * @typedef {{code: number, reason: string, retry: boolean}} Ending
 * @typedef {{
 *   participantJoined: (participant: ParticipantInfo) => void,
 *   participantUpdated: (participant: ParticipantInfo) => void,
 *   participantLeft: (identity: string) => void,
 *   trackPublished: (participant: string, track: TrackInfo) => void,
 *   trackUnpublished: (participant: string, trackId: string) => void,
 *   trackAdded: (track: RemoteTrack) => void,
 *   trackRemoved: (trackId: string) => void,
 *   trackMuted: (participant: string, trackId: string, muted: boolean) => void,
 *   mutedByServer: (kind: Kind, muted: boolean) => void,
 *   stoppedByServer: (source: Source) => void,
 *   layerChanged: (trackId: string, layer: string | null) => void,
 *   speakers: (msg: Speakers) => void,
 *   error: (frame: ErrorFrame) => void,
 *   data: (msg: import('./signaling.js').DataFrom) => void,
 *   ended: (ending: Ending) => void,
 * }} SessionEvents
 *
 * @typedef {{rid: string | null, at: number}} ForwardedLayer the layer the node forwards (null:
 *   paused) since `at` (performance.now())
 * @typedef {{trackId: string, framesDecoded: number, frameWidth: number, frameHeight: number,
 *   freezeCount: number, totalFreezesDuration: number, packetsReceived: number,
 *   packetsLost: number, pliCount: number, nackCount: number, retransmittedPacketsReceived: number,
 *   jitter: number, codec: string | null, layer: ForwardedLayer | null, size: number[] | null}} VideoInStats
 *   (`layer`: the last `subscription_layer`; `size`: the last `video_size` sent)
 * @typedef {{packetsReceived: number, packetsLost: number, jitter: number,
 *   totalSamplesReceived: number, audioLevel: number, totalAudioEnergy: number}} AudioInStats
 *   (`jitter`: seconds, as getStats says)
 * @typedef {{rid: string | null, active: boolean, frameWidth: number, frameHeight: number,
 *   framesEncoded: number, bytesSent: number, qualityLimitationReason: string}} VideoOutStats
 * @typedef {{localPort: number, remotePort: number, localType: string, protocol: string}}
 *   CandidatePorts (`localType`: host, srflx, prflx or relay: how our side reaches the node;
 *   `protocol`: udp, or tcp when only the node's ICE-TCP port could be reached)
 * @typedef {{bps: number, source: 'transport-cc' | 'remb', at: number}} DownlinkEstimate the
 *   node's last `downlink` message, received at `at` (performance.now())
 * @typedef {{remotes: Record<string, {video: VideoInStats | null, audio: AudioInStats | null,
 *   screen: VideoInStats | null}>,
 *   publish: {outbound: VideoOutStats[], audioPacketsSent: number},
 *   subscribe: CandidatePorts | null, downlink: DownlinkEstimate | null}} SessionStats
 *   (`video`: the camera, `screen`: a shared screen; `subscribe`: the ports of the subscribe
 *   connection's selected candidate pair; the remote one is the node's UDP (or TCP) port for
 *   everything it sends us)
 */

/** Three simulcast encodings of the camera; Chrome sends all three from 960x540 up. */
const SIMULCAST = [
  {rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000},
  {rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000},
  {rid: 'f', maxBitrate: 1_500_000},
];
/** @type {RTCConfiguration} */
const PC_CONFIG = {bundlePolicy: 'max-bundle'};
/** A connection whose ICE restart has not brought it back by then ends the session (rejoin). */
const RESTART_TIMEOUT_MS = 10_000;
/** A `disconnected` path often comes back by itself (a busy machine, a burst of loss): a restart
 * waits this long for it; `failed` restarts at once. */
const DISCONNECTED_GRACE_MS = 2_000;

export class Session {
  /** @type {Signaling} */
  #signaling;
  /** @type {SessionEvents} */
  #events;
  /** @type {RTCPeerConnection | null} */
  #publishPc = null;
  /** @type {Map<Kind, string>} our published camera and microphone track ids, by kind */
  #published = new Map();
  /** @type {RTCRtpTransceiver | null} the screen we share, while we do */
  #screen = null;
  /** @type {string | null} its track id, once the node answered */
  #screenTrackId = null;
  /** Ours, as the node knows us. */
  #identity = '';
  /** @type {RTCPeerConnection | null} */
  #subscribePc = null;
  /** @type {Map<string, RemoteTrack>} tracks we receive, by track id */
  #remote = new Map();
  /** @type {Set<string>} identities that left: an offer still in flight may list their tracks */
  #gone = new Set();
  /** @type {Map<string, ForwardedLayer>} what the node forwards of each received video */
  #layers = new Map();
  /** @type {DownlinkEstimate | null} */
  #downlink = null;
  /** @type {Map<string, number[]>} the last `video_size` sent, by track id */
  #sizes = new Map();
  /** @type {Map<'publish' | 'subscribe', number>} ICE restarts in flight: their deadline timers */
  #restarts = new Map();
  /** @type {Map<'publish' | 'subscribe', number>} disconnected paths given time to come back */
  #graces = new Map();
  /** @type {RTCIceServer[]} the TURN relays (and credentials) the node gave us on joining */
  #iceServers = [];
  /** Answers and offers are applied one after the other, in arrival order. */
  #queue = Promise.resolve();
  #over = false;

  /** @param {Signaling} signaling @param {SessionEvents} events */
  constructor(signaling, events) {
    this.#signaling = signaling;
    this.#events = events;
    signaling.onmessage = (msg) => this.#onMessage(msg);
    signaling.onclose = ({code, reason}) =>
      this.#end({code, reason, retry: code !== 1000 && !isRefusal(code)});
  }

  /**
   * Connects and joins. Rejects with SignalingClosed if the node cannot be reached or refuses.
   * @param {{url: string, room: string, token: string, events: SessionEvents}} options
   * @returns {Promise<{session: Session, joined: Joined}>}
   */
  static async open({url, room, token, events}) {
    const session = new Session(await Signaling.connect(url), events);
    const joined = await session.#signaling.join(room, token, receiveCodecs());
    session.#iceServers = joined.ice_servers ?? [];
    session.#identity = joined.participant.identity;
    return {session, joined};
  }

  /** Publishes the camera (as simulcast) and the microphone of `stream`. */
  async publish(/** @type {MediaStream} */ stream) {
    if (this.#over) return;
    const pc = this.#publishPc ??= this.#newPeerConnection('publish');
    for (const track of stream.getVideoTracks()) {
      pc.addTransceiver(track, {direction: 'sendonly', sendEncodings: SIMULCAST});
    }
    for (const track of stream.getAudioTracks()) {
      pc.addTransceiver(track, {direction: 'sendonly'});
    }
    this.#enqueue(() => this.#offer());
  }

  /**
   * Shares a screen (a `getDisplayMedia` video) as one more track, in one full-resolution
   * encoding: text must stay readable, and the node gives screens its bandwidth first. It stops
   * when `stopScreen` is called or the browser's own "stop sharing" ends the track.
   * @param {MediaStreamTrack} track
   */
  shareScreen(track) {
    if (this.#over || this.#screen) return;
    const pc = this.#publishPc ??= this.#newPeerConnection('publish');
    track.contentHint = 'detail';
    const transceiver = pc.addTransceiver(track, {direction: 'sendonly'});
    this.#screen = transceiver;
    track.addEventListener('ended', () => this.stopScreen());
    this.#enqueue(() => this.#offer(transceiver));
  }

  /** Stops sharing: the m-line is stopped, and the node unpublishes the track. */
  stopScreen() {
    const transceiver = this.#screen;
    if (!transceiver || this.#over) return;
    this.#screen = this.#screenTrackId = null;
    transceiver.sender.track?.stop();
    transceiver.stop();
    this.#enqueue(() => this.#offer());
  }

  /**
   * The server stopped one of our tracks (our grants changed): stop sending it.
   * @param {string} trackId
   */
  #stopOwn(trackId) {
    if (trackId === this.#screenTrackId) {
      this.stopScreen();
      this.#events.stoppedByServer('screen');
      return;
    }
    const own = [...this.#published].find(([, id]) => id === trackId);
    const transceiver = own && this.#publishPc?.getTransceivers().find(
      (t) => t.sender === this.#ownSender(own[0]));
    if (!own || !transceiver) return;
    this.#published.delete(own[0]);
    transceiver.sender.track?.stop();
    transceiver.stop();
    this.#enqueue(() => this.#offer());
    this.#events.stoppedByServer(own[0] === 'video' ? 'camera' : 'microphone');
  }

  /** Whether we share a screen. */
  get sharing() {
    return this.#screen !== null;
  }

  /** A publish offer; `screen` is the new m-line of a shared screen, if any. */
  async #offer(/** @type {RTCRtpTransceiver | undefined} */ screen) {
    const pc = this.#publishPc;
    if (!pc || this.#over) return;
    await pc.setLocalDescription(await pc.createOffer());
    const sources = screen?.mid ? {[screen.mid]: /** @type {Source} */ ('screen')} : undefined;
    this.#signaling.send({type: 'publish_offer', sdp: sdpOf(pc), ...(sources && {sources})});
  }

  /**
   * Someone's track was (un)muted; one of ours only by the server (the REST API), which the
   * page then applies to the camera or microphone.
   * @param {import('./signaling.js').TrackMuted} msg
   */
  #trackMuted(msg) {
    const own = [...this.#published].find(([, trackId]) => trackId === msg.track_id);
    if (own) this.#events.mutedByServer(own[0], msg.muted);
    else this.#events.trackMuted(msg.participant, msg.track_id, msg.muted);
  }

  /**
   * Sends `track` instead of our camera or microphone (another device), on the same m-line: no
   * renegotiation, and the node sees the same track. False if we do not publish that kind.
   * @param {Kind} kind @param {MediaStreamTrack} track
   */
  async replaceTrack(kind, track) {
    const sender = this.#ownSender(kind);
    if (!sender || this.#over) return false;
    await sender.replaceTrack(track);
    return true;
  }

  /** The camera or microphone track we send, if any. @param {Kind} kind */
  sentTrack(kind) {
    return this.#localTrack(kind);
  }

  /** Tells the node whether our published track of `kind` is muted (its `enabled` flag). */
  announceMute(/** @type {Kind} */ kind) {
    const trackId = this.#published.get(kind);
    const track = this.#localTrack(kind);
    if (trackId && track) this.#signaling.send({type: 'mute', track_id: trackId, muted: !track.enabled});
  }

  /**
   * Tells the node how large a received video is drawn (0x0 = not shown).
   * @param {string} trackId @param {number} width @param {number} height
   */
  sendVideoSize(trackId, width, height) {
    if (!this.#remote.has(trackId)) return;
    this.#sizes.set(trackId, [width, height]);
    this.#signaling.send({type: 'video_size', track_id: trackId, width, height});
  }

  /** Asks the node for a quality of a received video (`auto` follows its size). */
  sendVideoQuality(/** @type {string} */ trackId, /** @type {Quality} */ quality) {
    if (!this.#remote.has(trackId)) return;
    this.#signaling.send({type: 'video_quality', track_id: trackId, quality});
  }

  /**
   * Sends a data message to the room, or to the identities in `to` (docs/signaling.md).
   * @param {{payload: string, to?: string[], topic?: string, reliable?: boolean}} message
   */
  sendData(message) {
    this.#signaling.send({type: 'data', ...message});
  }

  leave() {
    this.#signaling.send({type: 'leave'});
    this.close();
  }

  /** Closes everything without an `ended` event. */
  close() {
    this.#over = true;
    for (const timer of [...this.#restarts.values(), ...this.#graces.values()]) clearTimeout(timer);
    this.#restarts.clear();
    this.#graces.clear();
    this.#signaling.close();
    this.#screen?.sender.track?.stop();
    this.#publishPc?.close();
    this.#subscribePc?.close();
  }

  /** @returns {Promise<SessionStats>} */
  async stats() {
    /** @type {SessionStats['remotes']} */
    const remotes = {};
    for (const remote of this.#remote.values()) {
      const entry = remotes[remote.participant] ??= {video: null, audio: null, screen: null};
      const report = await remote.receiver.getStats();
      const inbound = firstOfType(report, 'inbound-rtp');
      if (!inbound) continue;
      if (remote.kind === 'video') {
        entry[remote.source === 'screen' ? 'screen' : 'video'] ??= {
          ...videoIn(remote.trackId, inbound),
          codec: report.get(inbound.codecId)?.mimeType ?? null,
          layer: this.#layers.get(remote.trackId) ?? null,
          size: this.#sizes.get(remote.trackId) ?? null,
        };
      } else {
        entry.audio ??= audioIn(inbound);
      }
    }
    const subscribe = this.#subscribePc && await candidatePorts(this.#subscribePc);
    return {remotes, publish: await this.#publishStats(), subscribe, downlink: this.#downlink};
  }

  // --- incoming frames -------------------------------------------------------------------------

  /** @param {ServerMessage} msg */
  #onMessage(msg) {
    switch (msg.type) {
      case 'publish_answer': return this.#enqueue(() => this.#applyPublishAnswer(msg));
      case 'subscribe_offer': return this.#enqueue(() => this.#answerSubscribeOffer(msg));
      case 'participant_joined':
        this.#gone.delete(msg.participant.identity);
        return this.#events.participantJoined(msg.participant);
      case 'participant_updated': return this.#events.participantUpdated(msg.participant);
      case 'participant_left': return this.#removeParticipant(msg.identity);
      case 'track_published': return this.#events.trackPublished(msg.participant, msg.track);
      case 'track_unpublished':
        if (msg.participant !== this.#identity) {
          return this.#events.trackUnpublished(msg.participant, msg.track_id);
        }
        return this.#stopOwn(msg.track_id);
      case 'track_muted': return this.#trackMuted(msg);
      case 'publisher_layers':
        // After the publish answer (same queue), so that the track id is known.
        return this.#enqueue(() => this.#setActiveLayers(msg).catch((err) => {
          console.warn('cannot apply publisher_layers', err);
        }));
      case 'subscription_layer':
        this.#layers.set(msg.track_id, {rid: msg.layer, at: performance.now()});
        return this.#events.layerChanged(msg.track_id, msg.layer);
      case 'downlink':
        this.#downlink = {bps: msg.bps, source: msg.source, at: performance.now()};
        return;
      case 'speakers': return this.#events.speakers(msg);
      case 'error': return this.#events.error(msg);
      case 'data': return this.#events.data(msg);
    }
  }

  /** @param {() => Promise<void>} task */
  #enqueue(task) {
    this.#queue = this.#queue.then(task).catch((err) => {
      console.error(err);
      this.#end({code: 0, reason: `negotiation failed: ${err.message}`, retry: true});
    });
  }

  /** @param {PublishAnswer} msg */
  async #applyPublishAnswer(msg) {
    const pc = this.#publishPc;
    if (!pc || this.#over) return;
    await pc.setRemoteDescription({type: 'answer', sdp: msg.sdp});
    for (const transceiver of pc.getTransceivers()) {
      const track = transceiver.sender.track;
      const trackId = transceiver.mid === null ? undefined : msg.tracks[transceiver.mid];
      if (transceiver === this.#screen && trackId) this.#screenTrackId = trackId;
      if (!track || !trackId || transceiver === this.#screen) continue;
      this.#published.set(/** @type {Kind} */ (track.kind), trackId);
      if (!track.enabled) this.announceMute(/** @type {Kind} */ (track.kind));
    }
  }

  /**
   * Dynacast: encode only the simulcast layers someone receives, and always the lowest one (the
   * first encoding). It costs little (320x180, at most 150 kbit/s) and is where the node falls
   * back to: a subscriber moved down (its bandwidth fell, it chose "low") or a new or returning
   * one gets video at the next keyframe instead of after an encoder restart (a second or more,
   * frozen).
   * @param {PublisherLayers} msg
   */
  async #setActiveLayers(msg) {
    const sender = this.#ownSender('video');
    if (!sender || this.#published.get('video') !== msg.track_id || this.#over) return;
    const params = sender.getParameters();
    const wanted = new Set(msg.active);
    let changed = false;
    params.encodings.forEach((encoding, i) => {
      const active = i === 0 || wanted.has(encoding.rid ?? '');
      changed ||= encoding.active !== active;
      encoding.active = active;
    });
    if (changed) await sender.setParameters(params);
  }

  /** @param {SubscribeOffer} msg */
  async #answerSubscribeOffer(msg) {
    if (this.#over) return;
    const pc = this.#subscribePc ??= this.#newPeerConnection('subscribe');
    await pc.setRemoteDescription({type: 'offer', sdp: msg.sdp});
    this.#syncRemoteTracks(pc, msg.tracks);
    await pc.setLocalDescription(await pc.createAnswer());
    this.#signaling.send({type: 'subscribe_answer', sdp: sdpOf(pc)});
  }

  /**
   * Makes the received tracks match the offer's mid → track map. Looking at the transceivers
   * (rather than waiting for `ontrack`) also catches a transceiver the node reused for another
   * track without pausing it in between.
   * @param {RTCPeerConnection} pc
   * @param {SubscribeOffer['tracks']} tracks
   */
  #syncRemoteTracks(pc, tracks) {
    for (const [trackId, remote] of this.#remote) {
      if (tracks[remote.mid]?.track_id !== trackId) this.#removeRemote(trackId);
    }
    const byMid = new Map(pc.getTransceivers().map((t) => [t.mid, t]));
    for (const [mid, {track_id: trackId, participant, kind, source}] of Object.entries(tracks)) {
      const transceiver = byMid.get(mid);
      if (!transceiver || this.#remote.has(trackId) || this.#gone.has(participant)) continue;
      const remote = {trackId, participant, kind, source, mid, receiver: transceiver.receiver};
      this.#remote.set(trackId, remote);
      this.#events.trackAdded(remote);
    }
  }

  /** @param {string} identity */
  #removeParticipant(identity) {
    this.#gone.add(identity);
    for (const remote of [...this.#remote.values()]) {
      if (remote.participant === identity) this.#removeRemote(remote.trackId);
    }
    this.#events.participantLeft(identity);
  }

  /** @param {string} trackId */
  #removeRemote(trackId) {
    this.#layers.delete(trackId);
    this.#sizes.delete(trackId);
    if (this.#remote.delete(trackId)) this.#events.trackRemoved(trackId);
  }

  // --- helpers ---------------------------------------------------------------------------------

  /** @param {'publish' | 'subscribe'} target */
  #newPeerConnection(target) {
    const pc = new RTCPeerConnection({...PC_CONFIG, iceServers: this.#iceServers});
    pc.onicecandidate = ({candidate}) =>
      this.#signaling.send({type: 'trickle', target, candidate: candidate ? candidate.toJSON() : null});
    pc.oniceconnectionstatechange = () => this.#watchPath(pc, target);
    pc.onconnectionstatechange = () => this.#watchPath(pc, target);
    return pc;
  }

  /**
   * A connection whose path broke (the network changed, a NAT forgot us) restarts ICE on the
   * same peer connection, keeping its DTLS session, tracks and tiles: the publish connection
   * offers again with new credentials, the subscribe connection asks the node to. If it is not
   * connected again within RESTART_TIMEOUT_MS, the session ends and the page rejoins.
   * @param {RTCPeerConnection} pc @param {'publish' | 'subscribe'} target
   */
  #watchPath(pc, target) {
    if (pc.connectionState === 'connected') {
      for (const timers of [this.#restarts, this.#graces]) {
        clearTimeout(timers.get(target));
        timers.delete(target);
      }
      return;
    }
    const states = [pc.iceConnectionState, pc.connectionState];
    if (states.includes('failed')) {
      this.#restartIce(pc, target);
    } else if (states.includes('disconnected') && !this.#graces.has(target)) {
      this.#graces.set(target, setTimeout(() => {
        this.#graces.delete(target);
        if (pc.connectionState !== 'connected') this.#restartIce(pc, target);
      }, DISCONNECTED_GRACE_MS));
    }
  }

  /** @param {RTCPeerConnection} pc @param {'publish' | 'subscribe'} target */
  #restartIce(pc, target) {
    if (this.#restarts.has(target) || this.#over) return;
    console.info(`${target} connection ${pc.connectionState}: restarting ICE`);
    this.#restarts.set(target, setTimeout(() => {
      this.#end({code: 0, reason: `${target} connection lost`, retry: true});
    }, RESTART_TIMEOUT_MS));
    if (target === 'subscribe') {
      this.#signaling.send({type: 'ice_restart'});
      return;
    }
    this.#enqueue(async () => {
      if (this.#over || pc.signalingState !== 'stable') return;
      await pc.setLocalDescription(await pc.createOffer({iceRestart: true}));
      this.#signaling.send({type: 'publish_offer', sdp: sdpOf(pc)});
    });
  }

  /** @param {Kind} kind */
  #localTrack(kind) {
    return this.#ownSender(kind)?.track ?? null;
  }

  /** The sender of our camera or microphone (not of a shared screen). @param {Kind} kind */
  #ownSender(kind) {
    const screen = this.#screen?.sender;
    return this.#publishPc?.getSenders().find((s) => s.track?.kind === kind && s !== screen);
  }

  /** @param {Ending} ending */
  #end(ending) {
    if (this.#over) return;
    this.close();
    this.#events.ended(ending);
  }

  /** @returns {Promise<SessionStats['publish']>} */
  async #publishStats() {
    /** @type {SessionStats['publish']} */
    const publish = {outbound: [], audioPacketsSent: 0};
    if (!this.#publishPc) return publish;
    const sender = this.#ownSender('video');
    const encodings = sender?.getParameters().encodings ?? [];
    const screenMid = this.#screen?.mid;
    for (const report of (await this.#publishPc.getStats()).values()) {
      if (report.type !== 'outbound-rtp' || (screenMid && report.mid === screenMid)) continue;
      if (report.kind === 'audio') {
        publish.audioPacketsSent += report.packetsSent ?? 0;
      } else {
        const encoding = encodings.find((e) => (e.rid ?? null) === (report.rid ?? null));
        publish.outbound.push(videoOut(report, encoding?.active ?? true));
      }
    }
    const order = (/** @type {VideoOutStats} */ layer) => SIMULCAST.findIndex((e) => e.rid === layer.rid);
    publish.outbound.sort((a, b) => order(a) - order(b));
    return publish;
  }
}

/**
 * The audio and video codecs this browser decodes, for `join`: the node then never sends us a
 * track in another one (e.g. H.264 to a Firefox without OpenH264), and says so instead.
 * @returns {import('./signaling.js').ReceiveCodec[]}
 */
function receiveCodecs() {
  return ['audio', 'video']
    .flatMap((kind) => RTCRtpReceiver.getCapabilities(kind)?.codecs ?? [])
    .map(({mimeType, sdpFmtpLine}) => ({mimeType, sdpFmtpLine: sdpFmtpLine ?? ''}));
}

/** @param {RTCPeerConnection} pc */
function sdpOf(pc) {
  const description = pc.localDescription;
  if (!description) throw new Error('no local description');
  return description.sdp;
}

/** @param {RTCStatsReport} report @param {string} type */
function firstOfType(report, type) {
  for (const stat of report.values()) if (stat.type === type) return stat;
  return null;
}

/**
 * The ports of a connection's selected candidate pair, or null before it has one.
 * @param {RTCPeerConnection} pc @returns {Promise<CandidatePorts | null>}
 */
async function candidatePorts(pc) {
  const report = await pc.getStats();
  const transport = firstOfType(report, 'transport');
  const pair = transport && report.get(transport.selectedCandidatePairId);
  const local = pair && report.get(pair.localCandidateId);
  const remote = pair && report.get(pair.remoteCandidateId);
  return local && remote
    ? {
      localPort: local.port,
      remotePort: remote.port,
      localType: local.candidateType,
      protocol: local.protocol,
    }
    : null;
}

/**
 * @param {string} trackId @param {any} s an inbound-rtp stat of a video receiver
 * @returns {Omit<VideoInStats, 'codec' | 'layer' | 'size'>}
 */
function videoIn(trackId, s) {
  return {
    trackId,
    framesDecoded: s.framesDecoded ?? 0,
    frameWidth: s.frameWidth ?? 0,
    frameHeight: s.frameHeight ?? 0,
    freezeCount: s.freezeCount ?? 0,
    totalFreezesDuration: s.totalFreezesDuration ?? 0,
    packetsReceived: s.packetsReceived ?? 0,
    packetsLost: s.packetsLost ?? 0,
    pliCount: s.pliCount ?? 0,
    nackCount: s.nackCount ?? 0,
    retransmittedPacketsReceived: s.retransmittedPacketsReceived ?? 0,
    jitter: s.jitter ?? 0,
  };
}

/** @param {any} s an inbound-rtp stat of an audio receiver @returns {AudioInStats} */
function audioIn(s) {
  return {
    packetsReceived: s.packetsReceived ?? 0,
    packetsLost: s.packetsLost ?? 0,
    jitter: s.jitter ?? 0,
    totalSamplesReceived: s.totalSamplesReceived ?? 0,
    audioLevel: s.audioLevel ?? 0,
    totalAudioEnergy: s.totalAudioEnergy ?? 0,
  };
}

/**
 * @param {any} s an outbound-rtp stat of a video sender
 * @param {boolean} active the encoding's `active` in the sender's parameters
 * @returns {VideoOutStats}
 */
function videoOut(s, active) {
  return {
    rid: s.rid ?? null,
    active,
    frameWidth: s.frameWidth ?? 0,
    frameHeight: s.frameHeight ?? 0,
    framesEncoded: s.framesEncoded ?? 0,
    bytesSent: s.bytesSent ?? 0,
    qualityLimitationReason: s.qualityLimitationReason ?? 'none',
  };
}
