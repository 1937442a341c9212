// @ts-check
/**
 * The invite link: this page with only `?room=` (never our identity, name, token or node URL,
 * which are ours alone), copied to the clipboard, or shown to be copied by hand where the
 * clipboard is not available (an insecure origin, a denied permission).
 */

/**
 * The link to `room` on the page at `pageUrl`. Pure.
 * @param {string} pageUrl @param {string} room
 */
export function inviteLink(pageUrl, room) {
  const url = new URL(pageUrl);
  url.search = new URLSearchParams({room}).toString();
  url.hash = '';
  return url.href;
}

/**
 * Copies `link`; true if it is on the clipboard.
 * @param {string} link
 */
export async function copyLink(link) {
  try {
    await navigator.clipboard.writeText(link);
    return true;
  } catch (err) {
    console.info('no clipboard: showing the invite link', err);
    return false;
  }
}
