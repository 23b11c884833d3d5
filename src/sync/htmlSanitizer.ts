/**
 * HTML of a received message, made safe to store and to serve: a strict allow-list of tags and
 * attributes, no scripts, no event handlers, no `style`, no javascript:/vbscript:/data: links, and
 * (by default) no remote loading: an http(s) image source is moved to `data-remote-src`, which a
 * client may restore when the user asks to load images.
 */
import sanitizeHtml from "sanitize-html"

const ALLOWED_TAGS = [
  "a",
  "abbr",
  "address",
  "b",
  "bdi",
  "bdo",
  "blockquote",
  "br",
  "caption",
  "center",
  "cite",
  "code",
  "col",
  "colgroup",
  "dd",
  "del",
  "dfn",
  "div",
  "dl",
  "dt",
  "em",
  "figcaption",
  "figure",
  "font",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "hr",
  "i",
  "img",
  "ins",
  "kbd",
  "li",
  "mark",
  "ol",
  "p",
  "pre",
  "q",
  "s",
  "samp",
  "small",
  "span",
  "strike",
  "strong",
  "sub",
  "sup",
  "table",
  "tbody",
  "td",
  "tfoot",
  "th",
  "thead",
  "tr",
  "tt",
  "u",
  "ul",
  "var"
]

const TABLE_ATTRIBUTES = ["width", "height", "align", "valign", "bgcolor", "border", "cellpadding", "cellspacing"]

const ALLOWED_ATTRIBUTES: Record<string, Array<string>> = {
  "*": ["dir", "lang", "title", "align"],
  a: ["href", "name", "target", "rel"],
  img: ["src", "alt", "width", "height", "data-remote-src"],
  font: ["color", "face", "size"],
  table: TABLE_ATTRIBUTES,
  td: [...TABLE_ATTRIBUTES, "colspan", "rowspan"],
  th: [...TABLE_ATTRIBUTES, "colspan", "rowspan"],
  tr: TABLE_ATTRIBUTES,
  col: ["width", "span"],
  colgroup: ["width", "span"],
  ol: ["start", "type"],
  blockquote: ["cite"],
  q: ["cite"]
}

/** Content of these is dropped together with the tag. */
const NON_TEXT_TAGS = [
  "script",
  "style",
  "textarea",
  "option",
  "noscript",
  "title",
  "head",
  "template",
  "svg",
  "math",
  "iframe",
  "object",
  "embed",
  "applet",
  "xml",
  "select",
  "button"
]

const INLINE_IMAGE = /^data:image\/(png|gif|jpe?g|webp|bmp);base64,[a-z0-9+/=\s]*$/i
const REMOTE = /^https?:\/\//i

const makeOptions = (allowRemoteImages: boolean): sanitizeHtml.IOptions => ({
  allowedTags: ALLOWED_TAGS,
  allowedAttributes: ALLOWED_ATTRIBUTES,
  allowedSchemes: ["http", "https", "mailto", "tel"],
  allowedSchemesByTag: { img: allowRemoteImages ? ["cid", "data", "http", "https"] : ["cid", "data"] },
  allowedSchemesAppliedToAttributes: ["href", "src", "cite"],
  allowProtocolRelative: false,
  disallowedTagsMode: "discard",
  nonTextTags: NON_TEXT_TAGS,
  enforceHtmlBoundary: false,
  parseStyleAttributes: false,
  nestingLimit: 200,
  transformTags: {
    a: (tagName, attribs) => ({
      tagName,
      attribs: { ...attribs, target: "_blank", rel: "noopener noreferrer nofollow" }
    }),
    img: (tagName, attribs) => {
      // data-remote-src is only ever set here, from a checked http(s) URL
      const { src, "data-remote-src": _ignored, ...rest } = attribs
      const source = (src ?? "").trim()
      if (REMOTE.test(source)) {
        return {
          tagName,
          attribs: allowRemoteImages ? { ...rest, src: source } : { ...rest, "data-remote-src": source }
        }
      }
      if (/^cid:/i.test(source) || INLINE_IMAGE.test(source)) return { tagName, attribs: { ...rest, src: source } }
      return { tagName, attribs: rest }
    }
  }
})

const strict = makeOptions(false)
const withRemoteImages = makeOptions(true)

export const sanitizeMailHtml = (html: string, options: { readonly allowRemoteImages?: boolean } = {}): string =>
  sanitizeHtml(html, options.allowRemoteImages === true ? withRemoteImages : strict)
