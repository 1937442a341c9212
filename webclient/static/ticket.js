// @ts-check
/**
 * Where a join token comes from: minted by an app backend and handed to the page
 * (`?token=…&url=…`), or, in the demo stack, asked for from `POST /demo/token`.
 */

/**
 * @typedef {{room: string, identity: string, name: string, token: string, url: string}} JoinParams
 * @typedef {{token: string, url: string}} Ticket
 */

/** The demo endpoint answered with an error; `retry` says whether asking again could help. */
export class TicketError extends Error {
  /** @param {string} message @param {boolean} retry */
  constructor(message, retry) {
    super(message);
    this.name = 'TicketError';
    this.retry = retry;
  }
}

/**
 * A token and the node's signaling URL for `params`.
 * @param {JoinParams} params
 * @returns {Promise<Ticket>}
 */
export async function getTicket(params) {
  if (params.token && params.url) return {token: params.token, url: signalingUrl(params.url)};
  const response = await fetch('/demo/token', {
    method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({room: params.room, identity: params.identity, name: params.name}),
  });
  if (!response.ok) {
    const detail = await response.text();
    throw new TicketError(`no token (HTTP ${response.status}): ${detail}`, response.status >= 500);
  }
  const body = await response.json();
  return {token: body.token, url: signalingUrl(body.node_url)};
}

/**
 * The WebSocket URL of a node: http(s) becomes ws(s), and `/v1/signal` is added unless the URL
 * already names it.
 * @param {string} nodeUrl absolute, or relative to this page
 */
export function signalingUrl(nodeUrl) {
  const url = new URL(nodeUrl, location.href);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (!url.pathname.endsWith('/v1/signal')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/signal`;
  return url.href;
}
