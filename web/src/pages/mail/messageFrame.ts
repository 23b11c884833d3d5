/**
 * The document a message's HTML is shown in: an iframe with `sandbox` (no allow-scripts, no
 * allow-same-origin) and `srcdoc`, whose own CSP meta forbids every script and every load except
 * inline (data:) images, and remote images only once the user allowed them.
 *
 * The server stores HTML already sanitised (src/sync/htmlSanitizer.ts): remote image sources are
 * moved to `data-remote-src`. Allowing images puts them back, for http(s) URLs only, and the CSP
 * then admits `img-src https: http:` and nothing else remote. A srcdoc frame also inherits the
 * app's own CSP (src/webapp/WebApp.ts), so a remote image loads only where that policy allows it too.
 */
const REMOTE_URL = /^\s*https?:\/\//i
/** An attribute value that makes the browser fetch something, or could: a URL with a scheme or protocol-relative. */
const URL_VALUE = /^\s*(?:[a-z][a-z0-9+.-]*:|\/\/)/i
/** Attributes that are only ever shown as text, never fetched. */
const TEXT_ATTRIBUTES = new Set(["alt", "title", "lang", "dir", "name", "rel", "target"])
const LINK_SCHEMES = /^\s*(?:https?:|mailto:|tel:|#)/i

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
    "style-src 'none'",
    remoteImages ? "img-src data: cid: https: http:" : "img-src data: cid:"
  ].join("; ")

const activeElements =
  "script, style, link, meta, base, iframe, frame, frameset, object, embed, applet, form, portal, noscript, template"

export interface FrameDocument {
  readonly srcdoc: string
  /** How many images wait for the user's permission (0: nothing to allow). */
  readonly blockedImages: number
}

/** Parses the stored HTML in an inert document (DOMParser runs no script and loads nothing). */
export const frameDocument = (html: string, remoteImages: boolean, lang: string): FrameDocument => {
  const parsed = new DOMParser().parseFromString(html, "text/html")
  // the server's sanitiser keeps none of these; removing them again means a sanitiser bug still
  // cannot navigate the frame (meta refresh), re-base its links, or embed anything
  for (const element of Array.from(parsed.querySelectorAll(activeElements))) element.remove()
  let blockedImages = 0
  for (const element of Array.from(parsed.body.querySelectorAll("*"))) {
    for (const attribute of Array.from(element.attributes)) {
      const name = attribute.name.toLowerCase()
      const keep =
        (name === "href" && element.tagName === "A") ||
        (name === "src" && element.tagName === "IMG") ||
        name === "data-remote-src" ||
        TEXT_ATTRIBUTES.has(name)
      // handlers, inline style and every other attribute that names a URL (background, poster,
      // srcset, action, ...) go: the browser would at least try to fetch some of them
      if (name.startsWith("on") || name === "style" || (!keep && URL_VALUE.test(attribute.value))) {
        element.removeAttribute(attribute.name)
      }
    }
  }
  for (const image of Array.from(parsed.querySelectorAll("img"))) {
    const source = image.getAttribute("src") ?? ""
    // a remote src the sanitiser should have moved aside is treated as if it had
    if (REMOTE_URL.test(source) && !image.hasAttribute("data-remote-src")) {
      image.setAttribute("data-remote-src", source.trim())
    }
    if (!/^(data:image\/|cid:)/i.test(source.trim())) image.removeAttribute("src")
  }
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
    // a link opens in a new tab that leaves the sandbox: only web, mail and phone links may
    if (!LINK_SCHEMES.test(link.getAttribute("href") ?? "")) link.removeAttribute("href")
    link.setAttribute("target", "_blank")
    link.setAttribute("rel", "noopener noreferrer")
  }
  const head =
    `<meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="${csp(remoteImages)}">` +
    `<meta name="referrer" content="no-referrer">`
  const body = parsed.body.innerHTML
  return {
    srcdoc: `<!doctype html><html lang="${lang.replace(/[^a-zA-Z-]/g, "")}"><head>${head}</head><body>${body}</body></html>`,
    blockedImages
  }
}

/** The iframe's sandbox: links may open in a new tab, nothing else (no scripts, no same origin, no forms). */
export const FRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"
