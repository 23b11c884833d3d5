import type { Category } from "../../contract/analysis/Analysis.ts"

/**
 * Sender and link heuristics: registrable domains, free-mail and no-reply
 * senders, well-known service domains, brand impersonation (display name or
 * link host names a brand whose official domain it is not), IP-address links,
 * URL shorteners and throw-away top-level domains. String scanning with
 * indexOf only: no regular expressions.
 */

const SECOND_LEVEL_SUFFIXES: ReadonlySet<string> = new Set([
  "co.uk",
  "org.uk",
  "ac.uk",
  "gov.uk",
  "com.au",
  "co.jp",
  "com.br",
  "co.nz",
  "co.za",
  "com.tr",
  "co.at",
  "or.at",
  "com.cn"
])

/** "mail.service.example.co.uk" -> "example.co.uk" */
export const registrableDomain = (host: string): string => {
  const h = host.toLowerCase()
  const parts = h.split(".").filter((p) => p.length > 0)
  if (parts.length <= 2) return parts.join(".")
  const lastTwo = parts.slice(-2).join(".")
  if (SECOND_LEVEL_SUFFIXES.has(lastTwo)) return parts.slice(-3).join(".")
  return lastTwo
}

export const topLevel = (host: string): string => {
  const dot = host.lastIndexOf(".")
  return dot === -1 ? host : host.slice(dot + 1)
}

const FREEMAIL: ReadonlySet<string> = new Set([
  "gmail.com",
  "googlemail.com",
  "yahoo.com",
  "yahoo.de",
  "yahoo.co.uk",
  "outlook.com",
  "outlook.de",
  "hotmail.com",
  "hotmail.de",
  "live.com",
  "live.de",
  "icloud.com",
  "me.com",
  "mac.com",
  "gmx.de",
  "gmx.net",
  "gmx.at",
  "gmx.ch",
  "web.de",
  "t-online.de",
  "posteo.de",
  "mailbox.org",
  "freenet.de",
  "aol.com",
  "proton.me",
  "protonmail.com",
  "arcor.de",
  "online.de"
])

const NO_REPLY_PARTS = ["noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "mailer-daemon", "postmaster"]
const AUTOMATED_LOCAL: ReadonlySet<string> = new Set([
  "notifications",
  "notification",
  "notify",
  "alerts",
  "alert",
  "mailrobot",
  "robot",
  "automailer",
  "bounce",
  "bounces",
  "calendar-notification",
  "newsletter",
  "news"
])
const ROLE_LOCAL: ReadonlySet<string> = new Set([
  "info",
  "service",
  "support",
  "kontakt",
  "contact",
  "office",
  "team",
  "hello",
  "hallo",
  "mail",
  "sales",
  "billing",
  "rechnung",
  "buchhaltung",
  "kundenservice",
  "customerservice",
  "praxis",
  "reception",
  "orders",
  "order",
  "booking",
  "angebote",
  "redaktion",
  "kanzlei",
  "forderungen",
  "renewals",
  "claims",
  "hr",
  "admin",
  "webmaster",
  "verwaltung",
  "dispatch",
  "shop"
])

/** Domains of well-known services and the category their mail usually belongs to. */
const SERVICE_DOMAINS: ReadonlyMap<string, Category> = new Map<string, Category>([
  ["paypal.com", "finance"],
  ["paypal.de", "finance"],
  ["klarna.com", "finance"],
  ["db.com", "finance"],
  ["deutsche-bank.de", "finance"],
  ["commerzbank.de", "finance"],
  ["comdirect.de", "finance"],
  ["dkb.de", "finance"],
  ["ing.de", "finance"],
  ["n26.com", "finance"],
  ["postbank.de", "finance"],
  ["consorsbank.de", "finance"],
  ["amazon.de", "shopping"],
  ["amazon.com", "shopping"],
  ["amazon.co.uk", "shopping"],
  ["zalando.de", "shopping"],
  ["otto.de", "shopping"],
  ["ebay.de", "shopping"],
  ["ebay.com", "shopping"],
  ["etsy.com", "shopping"],
  ["dhl.de", "shopping"],
  ["dhl.com", "shopping"],
  ["dpd.de", "shopping"],
  ["myhermes.de", "shopping"],
  ["hermesworld.com", "shopping"],
  ["ups.com", "shopping"],
  ["gls-group.eu", "shopping"],
  ["ikea.com", "shopping"],
  ["mediamarkt.de", "shopping"],
  ["aliexpress.com", "shopping"],
  ["lufthansa.com", "travel"],
  ["eurowings.com", "travel"],
  ["bahn.de", "travel"],
  ["booking.com", "travel"],
  ["airbnb.com", "travel"],
  ["austrian.com", "travel"],
  ["ryanair.com", "travel"],
  ["easyjet.com", "travel"],
  ["flixbus.de", "travel"],
  ["expedia.com", "travel"],
  ["expedia.de", "travel"],
  ["hrs.de", "travel"],
  ["condor.com", "travel"],
  ["swiss.com", "travel"],
  ["klm.com", "travel"],
  ["linkedin.com", "social"],
  ["xing.com", "social"],
  ["facebookmail.com", "social"],
  ["facebook.com", "social"],
  ["instagram.com", "social"],
  ["twitter.com", "social"],
  ["x.com", "social"],
  ["meetup.com", "social"],
  ["strava.com", "social"],
  ["pinterest.com", "social"],
  ["tiktok.com", "social"],
  ["reddit.com", "social"],
  ["redditmail.com", "social"],
  ["github.com", "notification"],
  ["gitlab.com", "notification"],
  ["atlassian.net", "notification"],
  ["atlassian.com", "notification"],
  ["slack.com", "notification"],
  ["trello.com", "notification"],
  ["dropbox.com", "notification"],
  ["substack.com", "newsletter"]
])

type OfficialCheck = (registrable: string) => boolean
const oneOf =
  (...domains: ReadonlyArray<string>): OfficialCheck =>
  (r) =>
    domains.includes(r)

/** Brand keyword -> is this registrable domain the brand's own? */
const BRANDS: ReadonlyArray<readonly [brand: string, official: OfficialCheck]> = [
  ["paypal", oneOf("paypal.com", "paypal.de")],
  ["amazon", oneOf("amazon.de", "amazon.com", "amazon.co.uk", "amazon.fr", "amazon.it", "amazon.es")],
  ["apple", oneOf("apple.com", "icloud.com", "me.com")],
  ["icloud", oneOf("apple.com", "icloud.com", "me.com")],
  ["microsoft", oneOf("microsoft.com", "outlook.com", "live.com", "office.com", "microsoftonline.com")],
  ["google", oneOf("google.com", "google.de", "youtube.com", "googlemail.com", "gmail.com")],
  ["sparkasse", (r) => r.endsWith(".de") && (r.startsWith("sparkasse") || r.startsWith("s-") || r.startsWith("ksk-"))],
  ["volksbank", (r) => r.endsWith(".de") && (r.includes("volksbank") || r.startsWith("vr"))],
  ["deutschebank", oneOf("db.com", "deutsche-bank.de")],
  ["commerzbank", oneOf("commerzbank.de", "commerzbank.com")],
  ["postbank", oneOf("postbank.de")],
  ["dhl", oneOf("dhl.de", "dhl.com", "deutschepost.de")],
  ["dpd", oneOf("dpd.de", "dpd.com")],
  ["hermes", oneOf("myhermes.de", "hermesworld.com")],
  ["ups", oneOf("ups.com")],
  ["fedex", oneOf("fedex.com")],
  ["netflix", oneOf("netflix.com")],
  ["ebay", oneOf("ebay.de", "ebay.com")],
  ["telekom", oneOf("telekom.de", "telekom.com", "t-online.de")],
  ["vodafone", oneOf("vodafone.de", "vodafone.com")],
  ["dropbox", oneOf("dropbox.com")],
  ["github", oneOf("github.com")],
  ["linkedin", oneOf("linkedin.com")],
  ["facebook", oneOf("facebook.com", "facebookmail.com")],
  ["instagram", oneOf("instagram.com")],
  ["lufthansa", oneOf("lufthansa.com")]
]

const SUSPICIOUS_TLDS: ReadonlySet<string> = new Set([
  "xyz",
  "top",
  "click",
  "tk",
  "ml",
  "ga",
  "cf",
  "gq",
  "ru",
  "su",
  "cn",
  "work",
  "loan",
  "win",
  "bid",
  "icu",
  "buzz",
  "rest",
  "monster",
  "cyou",
  "sbs"
])
const MILD_TLDS: ReadonlySet<string> = new Set(["info", "biz", "online", "site", "shop", "live"])

const SHORTENERS: ReadonlySet<string> = new Set([
  "bit.ly",
  "tinyurl.com",
  "goo.gl",
  "is.gd",
  "cutt.ly",
  "ow.ly",
  "t.ly",
  "rebrand.ly",
  "shorturl.at",
  "rb.gy",
  "tiny.cc"
])

/** Words that a phisher puts into a look-alike domain. */
const LURE_WORDS = [
  "sicherheit",
  "security",
  "secure",
  "verify",
  "verifizierung",
  "verification",
  "konto",
  "account",
  "login",
  "signin",
  "update",
  "zustellung",
  "support-",
  "-support",
  "service-center",
  "kundenservice",
  "billing-",
  "unlock",
  "recovery"
]

export interface SenderProfile {
  readonly address: string
  readonly localPart: string
  readonly domain: string
  readonly registrable: string
  readonly freemail: boolean
  readonly noReply: boolean
  readonly role: boolean
  /** local part looks like a person (first.last, f.last) */
  readonly personLike: boolean
  readonly serviceCategory: Category | undefined
  /** the display name or domain names a brand, but the domain is not the brand's */
  readonly impersonates: string | undefined
  /** the domain is the official domain of a known brand */
  readonly officialBrand: boolean
  readonly lureDomain: boolean
  readonly suspiciousTld: number
}

const lettersOnly = (s: string): string => {
  let out = ""
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 97 && c <= 122) out += s[i]
    else if (c >= 65 && c <= 90) out += String.fromCharCode(c + 32)
  }
  return out
}

const words = (s: string): Array<string> => {
  const out: Array<string> = []
  let w = ""
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) w += s[i]
    else if (c >= 65 && c <= 90) w += String.fromCharCode(c + 32)
    else if (w.length > 0) {
      out.push(w)
      w = ""
    }
  }
  if (w.length > 0) out.push(w)
  return out
}

/** The brand a text (display name, host labels) names. Short brands need a whole word. */
const brandOf = (text: string): string | undefined => {
  const letters = lettersOnly(text)
  let wordList: Array<string> | undefined
  for (const [brand] of BRANDS) {
    if (brand.length <= 4) {
      if (!letters.includes(brand)) continue
      wordList ??= words(text)
      if (wordList.includes(brand)) return brand
    } else if (letters.includes(brand)) return brand
  }
  return undefined
}

const isOfficial = (brand: string, registrable: string): boolean => {
  for (const [b, check] of BRANDS) if (b === brand) return check(registrable)
  return false
}

export const isOfficialBrandDomain = (registrable: string): boolean => {
  for (const [, check] of BRANDS) if (check(registrable)) return true
  return false
}

const tldScore = (host: string): number => {
  const tld = topLevel(host)
  return SUSPICIOUS_TLDS.has(tld) ? 1.5 : MILD_TLDS.has(tld) ? 0.7 : 0
}

export const profileSender = (from: { readonly name?: string; readonly address: string }): SenderProfile => {
  const address = from.address.trim().toLowerCase()
  const at = address.lastIndexOf("@")
  const localPart = at === -1 ? address : address.slice(0, at)
  const domain = at === -1 ? "" : address.slice(at + 1)
  const registrable = registrableDomain(domain)
  const noReply = NO_REPLY_PARTS.some((p) => localPart.includes(p)) || AUTOMATED_LOCAL.has(localPart)
  const role = ROLE_LOCAL.has(localPart) || noReply
  let personLike = false
  if (!role) {
    for (let i = 0; i < localPart.length; i++) {
      const c = localPart.charCodeAt(i)
      if (c === 46 || c === 95 || c === 45) {
        personLike = true
        break
      }
    }
  }
  const freemail = FREEMAIL.has(registrable) || FREEMAIL.has(domain)
  // a free-mail address is nobody's official brand channel
  const officialBrand = !freemail && isOfficialBrandDomain(registrable)
  const displayBrand = from.name === undefined ? undefined : brandOf(from.name)
  const domainLabel = registrable.slice(0, Math.max(0, registrable.lastIndexOf(".")))
  const domainBrand = brandOf(domainLabel.replaceAll("-", " "))
  let impersonates: string | undefined
  if (displayBrand !== undefined && !isOfficial(displayBrand, registrable)) impersonates = displayBrand
  else if (domainBrand !== undefined && !isOfficial(domainBrand, registrable)) impersonates = domainBrand
  const lureDomain = !officialBrand && LURE_WORDS.some((w) => domainLabel.includes(w))
  return {
    address,
    localPart,
    domain,
    registrable,
    freemail,
    noReply,
    role,
    personLike,
    serviceCategory: SERVICE_DOMAINS.get(registrable),
    impersonates,
    officialBrand,
    lureDomain,
    suspiciousTld: tldScore(domain)
  }
}

export interface LinkProfile {
  readonly count: number
  readonly ipHosts: number
  readonly shorteners: number
  readonly suspiciousTld: number
  /** hosts that name a brand they do not belong to (paypal.de.konto-check.xyz) */
  readonly brandMismatch: number
  readonly lureHosts: number
  /** every link points to the sender's own registrable domain */
  readonly allToSender: boolean
  readonly registrables: ReadonlyArray<string>
}

const HOST_CHAR = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 46 || c === 45

const isIpv4 = (host: string): boolean => {
  const parts = host.split(".")
  if (parts.length !== 4) return false
  for (const p of parts) {
    if (p.length === 0 || p.length > 3) return false
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i)
      if (c < 48 || c > 57) return false
    }
  }
  return true
}

const MAX_LINKS = 64

/** Hosts of the http(s):// and www. links in a text (at most 64). */
export const linkHosts = (text: string): Array<string> => {
  const hosts: Array<string> = []
  const lower = text.toLowerCase()
  let from = 0
  while (hosts.length < MAX_LINKS) {
    const a = lower.indexOf("http", from)
    const b = lower.indexOf("www.", from)
    if (a === -1 && b === -1) break
    let start: number
    if (a !== -1 && (b === -1 || a <= b)) {
      if (lower.startsWith("https://", a)) start = a + 8
      else if (lower.startsWith("http://", a)) start = a + 7
      else {
        from = a + 4
        continue
      }
    } else start = b
    let end = start
    while (end < lower.length && HOST_CHAR(lower.charCodeAt(end))) end++
    while (end > start && lower.charCodeAt(end - 1) === 46) end--
    const host = lower.slice(start, end)
    if (host.includes(".")) hosts.push(host)
    from = Math.max(end, start + 1)
  }
  return hosts
}

export const profileLinks = (text: string, sender: SenderProfile): LinkProfile => {
  const hosts = linkHosts(text)
  let ipHosts = 0
  let shorteners = 0
  let suspiciousTld = 0
  let brandMismatch = 0
  let lureHosts = 0
  let allToSender = hosts.length > 0
  const registrables: Array<string> = []
  for (const host of hosts) {
    if (isIpv4(host)) {
      ipHosts++
      allToSender = false
      continue
    }
    const reg = registrableDomain(host)
    registrables.push(reg)
    if (reg !== sender.registrable) allToSender = false
    if (SHORTENERS.has(reg) || SHORTENERS.has(host)) shorteners++
    suspiciousTld = Math.max(suspiciousTld, tldScore(host))
    const official = isOfficialBrandDomain(reg)
    if (!official) {
      const brand = brandOf(host.replaceAll(".", " ").replaceAll("-", " "))
      if (brand !== undefined) brandMismatch++
      const label = reg.slice(0, Math.max(0, reg.lastIndexOf(".")))
      if (LURE_WORDS.some((w) => label.includes(w))) lureHosts++
    }
  }
  return {
    count: hosts.length,
    ipHosts,
    shorteners,
    suspiciousTld,
    brandMismatch,
    lureHosts,
    allToSender,
    registrables
  }
}

const DANGEROUS_EXTENSIONS = [
  ".exe",
  ".scr",
  ".js",
  ".vbs",
  ".bat",
  ".cmd",
  ".com",
  ".pif",
  ".iso",
  ".img",
  ".jar",
  ".lnk",
  ".hta",
  ".html",
  ".htm",
  ".docm",
  ".xlsm",
  ".zip",
  ".rar",
  ".7z"
]

export const dangerousAttachments = (names: ReadonlyArray<string>): number => {
  let n = 0
  for (const name of names) {
    const lower = name.toLowerCase().trim()
    if (DANGEROUS_EXTENSIONS.some((ext) => lower.endsWith(ext))) n++
  }
  return n
}
