/**
 * Opening links found in agent output. Output is written by whatever the
 * agent runs, so a link is opened only after the operator confirmed the
 * full URL, and only for `http:` and `https:`; used for plain-text URLs
 * (the web-links addon) and OSC 8 hyperlinks (xterm's `linkHandler`) alike.
 *
 * @module
 */

/** What opening a link needs from the browser (injected in tests). */
export interface LinkEnvironment {
  confirm(message: string): boolean;
  open(url: string): void;
}

const browser: LinkEnvironment = {
  confirm: (message) => globalThis.confirm(message),
  open: (url) => {
    globalThis.open(url, "_blank", "noopener,noreferrer");
  },
};

/**
 * The normalized `http(s)` URL of `text`, or null for anything else
 * (`javascript:`, `file:`, `data:`, relative or malformed). Normalizing
 * shows the host as the browser will reach it (punycode, no hidden
 * credentials trick in the text alone).
 */
export function linkUrl(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:"
    ? url.href
    : null;
}

/** The question shown before opening `url`. */
export function linkQuestion(url: string): string {
  return `Open this link from the agent's output in a new tab?\n\n${url}`;
}

/**
 * Ask with the full URL, then open it in a new tab without an opener.
 * Returns whether it was opened.
 */
export function openLink(
  text: string,
  env: LinkEnvironment = browser,
): boolean {
  const url = linkUrl(text);
  if (url === null) return false;
  if (!env.confirm(linkQuestion(url))) return false;
  env.open(url);
  return true;
}
