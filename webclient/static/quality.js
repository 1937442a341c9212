// @ts-check
/**
 * How well a remote tile's media reaches us: excellent, good, poor or lost, from two snapshots
 * of its receive stats a few seconds apart (`Session.stats`). Pure: no DOM, no clock, so that
 * the browser tests can call it with numbers of their own.
 *
 * What counts: the share of packets lost, the jitter (the audio's when there is audio: video
 * packets leave the pacer in bursts, so its jitter says little), the share of the time the video
 * stood frozen, and a video the node paused although we show it (it could not fit it in our
 * downlink). A video the node paused because we do not show it (0x0) is expected to send
 * nothing and does not count; nothing received at all from what should flow is `lost`.
 */

/**
 * @typedef {'excellent' | 'good' | 'poor' | 'lost'} QualityLevel
 * @typedef {import('./session.js').VideoInStats} VideoInStats
 * @typedef {import('./session.js').AudioInStats} AudioInStats
 * @typedef {{video: VideoInStats | null, audio: AudioInStats | null}} TileMedia what one tile
 *   plays: a camera and microphone, or a shared screen (no audio)
 * @typedef {{seconds: number, received: number, lost: number, jitter: number,
 *   frozenSeconds: number, paused: boolean}} QualitySample over `seconds`: packets received and
 *   lost, the last jitter (seconds), seconds of frozen video, and whether the node paused a video
 *   we show for the whole time
 */

/** @type {QualityLevel[]} best first */
export const LEVELS = ['excellent', 'good', 'poor', 'lost'];

/** The most an `excellent` and a `good` connection may have of each. */
const LIMITS = {
  excellent: {loss: 0.01, jitter: 0.03, frozen: 0},
  good: {loss: 0.05, jitter: 0.1, frozen: 0.2},
};

/** @param {QualitySample} sample @returns {QualityLevel} */
export function qualityLevel({seconds, received, lost, jitter, frozenSeconds, paused}) {
  if (paused) return 'poor'; // the node reaches us, but not with this video
  if (received <= 0) return 'lost';
  const loss = Math.max(0, lost) / (received + Math.max(0, lost));
  const frozen = seconds > 0 ? frozenSeconds / seconds : 0;
  for (const level of /** @type {const} */ (['excellent', 'good'])) {
    const limit = LIMITS[level];
    if (loss <= limit.loss && jitter < limit.jitter && frozen <= limit.frozen) return level;
  }
  return 'poor';
}

/**
 * The sample of one tile between two snapshots, or null if there is nothing to judge yet (no
 * earlier snapshot of the same tracks, or nothing that should flow).
 * @param {TileMedia | null | undefined} before @param {TileMedia} after
 * @param {number} seconds between the two
 * @param {number} since when `before` was taken (performance.now(), as `layer.at`)
 * @returns {QualitySample | null}
 */
export function tileSample(before, after, seconds, since) {
  if (!before || seconds <= 0) return null;
  let received = 0;
  let lost = 0;
  let counted = false;
  let frozenSeconds = 0;
  let paused = false;
  const {video, audio} = after;
  const videoBefore = before.video;
  if (video && videoBefore && video.trackId === videoBefore.trackId) {
    const shown = (video.size?.[0] ?? 0) * (video.size?.[1] ?? 0) > 0;
    const off = video.layer?.rid === null;
    paused = off && shown && /** @type {{at: number}} */ (video.layer).at <= since;
    if (!off && video.packetsReceived >= videoBefore.packetsReceived) {
      received += video.packetsReceived - videoBefore.packetsReceived;
      lost += video.packetsLost - videoBefore.packetsLost;
      counted = true;
    }
    frozenSeconds = Math.max(0, video.totalFreezesDuration - videoBefore.totalFreezesDuration);
  }
  const audioBefore = before.audio;
  if (audio && audioBefore && audio.packetsReceived >= audioBefore.packetsReceived) {
    received += audio.packetsReceived - audioBefore.packetsReceived;
    lost += audio.packetsLost - audioBefore.packetsLost;
    counted = true;
  }
  if (!counted && !paused) return null;
  const jitter = (audio ?? video)?.jitter ?? 0;
  return {seconds, received, lost, jitter, frozenSeconds: Math.min(frozenSeconds, seconds), paused};
}
