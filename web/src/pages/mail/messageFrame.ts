/**
 * The document a message's HTML is shown in: an iframe with `sandbox` (no allow-scripts, no
 * allow-same-origin) and `srcdoc`, whose own CSP meta forbids every script and every load except
 * inline (data:) images, and remote images only once the user allowed them.
 *
 * The server stores HTML already sanitised (src/sync/htmlSanitizer.ts): remote image sources are
 * moved to `data-remote-src`. Allowing images puts them back, for http(s) URLs only, and the CSP
 * then admits `img-src https: http:` and nothing else remote.
 */
const REMOTE_URL = /^https?:\/\//i

const csp = (remoteImages: boolean): string =>
  [
    "default-src 'none'",
    "script-src 'none'",
    "object-src 'none'",
    "frame-src 'none'",
    "connect-src 'none'",
    "font-src 'none'",
    "media-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
    "style-src 'unsafe-inline'",
    remoteImages ? "img-src data: cid: https: http:" : "img-src data: cid:"
  ].join("; ")

export interface FrameDocument {
  readonly srcdoc: string
  /** How many images wait for the user's permission (0: nothing to allow). */
  readonly blockedImages: number
}

/** Parses the stored HTML in an inert document (DOMParser runs no script and loads nothing). */
export const frameDocument = (html: string, remoteImages: boolean, lang: string): FrameDocument => {
  const parsed = new DOMParser().parseFromString(html, "text/html")
  let blockedImages = 0
  for (const image of Array.from(parsed.querySelectorAll("img[data-remote-src]"))) {
    const remote = image.getAttribute("data-remote-src") ?? ""
    if (remoteImages && REMOTE_URL.test(remote)) {
      image.setAttribute("src", remote)
      image.setAttribute("referrerpolicy", "no-referrer")
    } else {
      blockedImages += 1
    }
    image.removeAttribute("data-remote-src")
  }
  for (const link of Array.from(parsed.querySelectorAll("a[href]"))) {
    link.setAttribute("target", "_blank")
    link.setAttribute("rel", "noopener noreferrer")
  }
  const head =
    `<meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="${csp(remoteImages)}">` +
    `<meta name="referrer" content="no-referrer">` +
    `<style>body{font:15px/1.5 system-ui,sans-serif;margin:12px;overflow-wrap:anywhere}img{max-width:100%;height:auto}</style>`
  const body = parsed.body.innerHTML
  return {
    srcdoc: `<!doctype html><html lang="${lang.replace(/[^a-zA-Z-]/g, "")}"><head>${head}</head><body>${body}</body></html>`,
    blockedImages
  }
}

/** The iframe's sandbox: links may open in a new tab, nothing else (no scripts, no same origin, no forms). */
export const FRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"
