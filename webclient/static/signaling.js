// @ts-check
/**
 * WebSocket client for the node's signaling protocol, version 1 (docs/signaling.md).
 * It knows frames and close codes, nothing about peer connections.
 */

export const PROTOCOL_VERSION = 1;
const JOIN_TIMEOUT_MS = 15_000;

/**
 * @typedef {'audio' | 'video'} Kind
 * @typedef {'camera' | 'microphone' | 'screen' | 'screen_audio'} Source
 * @typedef {{id: string, kind: Kind, source: Source, muted: boolean, simulcast: string[]}} TrackInfo
 * @typedef {{sid: string, identity: string, name: string, metadata: string,
 *   attributes: Record<string, string>, tracks: TrackInfo[]}} ParticipantInfo
 * @typedef {{track_id: string, participant: string, kind: Kind, source: Source}} SubscribedTrack
 *
 * @typedef {{urls: string[], username: string, credential: string}} IceServer
 * @typedef {{type: 'joined', participant: ParticipantInfo, participants: ParticipantInfo[],
 *   ice_servers?: IceServer[]}} Joined
 * @typedef {{type: 'publish_answer', sdp: string, tracks: Record<string, string>}} PublishAnswer
 * @typedef {{type: 'subscribe_offer', sdp: string, tracks: Record<string, SubscribedTrack>}} SubscribeOffer
 * @typedef {{type: 'participant_joined', participant: ParticipantInfo}} ParticipantJoined
 * @typedef {{type: 'participant_updated', participant: ParticipantInfo}} ParticipantUpdated
 * @typedef {{type: 'participant_left', identity: string}} ParticipantLeft
 * @typedef {{type: 'track_published', participant: string, track: TrackInfo}} TrackPublished
 * @typedef {{type: 'track_unpublished', participant: string, track_id: string}} TrackUnpublished
 * @typedef {{type: 'track_muted', participant: string, track_id: string, muted: boolean}} TrackMuted
 * @typedef {{type: 'error', code: string, message: string, ref: string | null,
 *   track_id?: string | null}} ErrorFrame (`track_id`: the track it is about, if one)
 * @typedef {{mimeType: string, sdpFmtpLine: string}} ReceiveCodec
 * @typedef {{type: 'publisher_layers', track_id: string, active: string[]}} PublisherLayers
 * @typedef {{type: 'subscription_layer', track_id: string, layer: string | null}} SubscriptionLayer
 * @typedef {{type: 'downlink', bps: number, source: 'transport-cc' | 'remb'}} Downlink
 * @typedef {{type: 'pong', ts: number}} Pong
 * @typedef {{participant: string, track_id: string, level: number}} SpeakerLevel
 * @typedef {{type: 'speakers', speakers: SpeakerLevel[], dominant: string | null}} Speakers
 * @typedef {{type: 'data', from: string, topic: string | null, payload: string, ts: number}}
 *   DataFrom a data message of another participant (`ts`: the node's clock, ms since the epoch)
 * @typedef {Joined | PublishAnswer | SubscribeOffer | ParticipantJoined | ParticipantUpdated
 *   | ParticipantLeft
 *   | TrackPublished | TrackUnpublished | TrackMuted | PublisherLayers | SubscriptionLayer
 *   | Downlink | ErrorFrame | Pong | Speakers | DataFrom} ServerMessage
 * @typedef {'auto' | 'low' | 'medium' | 'high'} Quality
 *
 * @typedef {{type: 'publish_offer', sdp: string, sources?: Record<string, Source>}
 *   | {type: 'subscribe_answer', sdp: string}
 *   | {type: 'trickle', target: 'publish' | 'subscribe', candidate: RTCIceCandidateInit | null}
 *   | {type: 'mute', track_id: string, muted: boolean}
 *   | {type: 'video_size', track_id: string, width: number, height: number}
 *   | {type: 'video_quality', track_id: string, quality: Quality}
 *   | {type: 'ice_restart'}
 *   | {type: 'leave'}
 *   | {type: 'ping', ts: number}
 *   | {type: 'data', payload: string, to?: string[], topic?: string, reliable?: boolean}} ClientMessage
 */

/** Close codes in the 44xx range: the node refused us, and asking again will not help. */
export function isRefusal(/** @type {number} */ code) {
  return code >= 4400 && code < 4500;
}

/** The socket closed (or never opened); `code` and `reason` are the WebSocket's. */
export class SignalingClosed extends Error {
  /** @param {number} code @param {string} reason */
  constructor(code, reason) {
    super(reason || `signaling closed (${code})`);
    this.name = 'SignalingClosed';
    this.code = code;
    this.reason = reason;
  }
}

export class Signaling {
  /** @type {(msg: ServerMessage) => void} */
  onmessage = () => {};
  /** Called once when the socket closes, unless `close()` was called first. */
  /** @type {(closed: SignalingClosed) => void} */
  onclose = () => {};

  /** @type {WebSocket} */
  #ws;
  /** @type {{resolve: (msg: Joined) => void, reject: (err: Error) => void} | null} */
  #pendingJoin = null;
  #closedByUs = false;

  /** @param {WebSocket} ws an open socket */
  constructor(ws) {
    this.#ws = ws;
    ws.onmessage = (event) => this.#dispatch(JSON.parse(event.data));
    ws.onclose = (event) => this.#closed(new SignalingClosed(event.code, event.reason));
  }

  /** Opens the socket; rejects with SignalingClosed if it cannot. */
  static connect(/** @type {string} */ url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(new Signaling(ws));
      ws.onclose = (event) => reject(new SignalingClosed(event.code, event.reason || `cannot reach ${url}`));
    });
  }

  /**
   * Sends `join` and waits for `joined`. `receiveCodecs`: what we decode (the node sends us no
   * track in another codec).
   * @param {string} room @param {string} token @param {ReceiveCodec[]} receiveCodecs
   * @returns {Promise<Joined>}
   */
  join(room, token, receiveCodecs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pendingJoin = null;
        this.close(4000, 'join timed out');
        reject(new SignalingClosed(4000, 'the node did not answer the join'));
      }, JOIN_TIMEOUT_MS);
      this.#pendingJoin = {
        resolve: (msg) => { clearTimeout(timer); resolve(msg); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      };
      this.send({type: 'join', protocol: PROTOCOL_VERSION, room, token, receive_codecs: receiveCodecs});
    });
  }

  /**
   * @param {ClientMessage | {type: 'join', protocol: number, room: string, token: string,
   *   receive_codecs: ReceiveCodec[]}} msg
   */
  send(msg) {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(msg));
  }

  /** Closes without calling `onclose`. */
  close(code = 1000, reason = '') {
    this.#closedByUs = true;
    this.#ws.close(code, reason);
  }

  /** @param {ServerMessage} msg */
  #dispatch(msg) {
    if (msg.type === 'joined' && this.#pendingJoin) {
      this.#pendingJoin.resolve(msg);
      this.#pendingJoin = null;
      return;
    }
    this.onmessage(msg);
  }

  /** @param {SignalingClosed} closed */
  #closed(closed) {
    if (this.#pendingJoin) {
      this.#pendingJoin.reject(closed);
      this.#pendingJoin = null;
    } else if (!this.#closedByUs) {
      this.onclose(closed);
    }
  }
}
