/**
 * German + English lexicon of the offline classifier. Each entry adds weights
 * to named signals when any of its patterns occurs (once per entry and field;
 * subject hits count 1.5x). Pattern syntax: see AhoCorasick.ts (`*` = may be
 * part of a longer word on that side). Patterns are folded like the text
 * (ä -> a, ß -> ss), so they can be written naturally.
 */
import { categories } from "../../contract/analysis/Analysis.ts"

export const signals = [
  // one signal per category, so the category list lives in one place (Analysis.ts)
  ...categories,
  // urgency
  "urgent", // time pressure now/today/tomorrow
  "request", // the recipient is asked to do or answer something
  "calm", // explicitly nothing to do / FYI
  // importance
  "severe", // money, legal, job or security consequences
  "disruption", // cancelled / delayed / failed
  // spam
  "spam",
  "phish", // credential or payment-data request, account threats
  "marketing",
  // specific
  "human",
  "meeting",
  "otp",
  "login",
  "reset",
  "dunning",
  "payment",
  "greeting",
  "autoreply"
] as const
export type Signal = (typeof signals)[number]
export const SIGNAL_COUNT = signals.length
export const signalIndex = (s: Signal): number => signals.indexOf(s)

export interface LexiconEntry {
  readonly patterns: ReadonlyArray<string>
  readonly weights: Partial<Record<Signal, number>>
  /** Tag added to the result when the entry fires. */
  readonly tag?: string
}

const e = (patterns: ReadonlyArray<string>, weights: Partial<Record<Signal, number>>, tag?: string): LexiconEntry =>
  tag === undefined ? { patterns, weights } : { patterns, weights, tag }

export const lexicon: ReadonlyArray<LexiconEntry> = [
  // ---------------------------------------------------------------- finance
  e(
    ["*rechnung*", "invoice*", "billing", "rechnungsbetrag", "statement of account"],
    { finance: 2, payment: 0.5 },
    "invoice"
  ),
  e(["receipt", "quittung", "beleg", "zahlungsbestatigung", "payment confirmation"], { finance: 1.5 }, "receipt"),
  e(
    [
      "*mahnung*",
      "zahlungserinnerung*",
      "payment reminder",
      "final notice",
      "letzte mahnung",
      "mahngebuhr*",
      "*inkasso*",
      "debt collect*",
      "collection agency"
    ],
    { finance: 2.5, dunning: 3, severe: 2, urgent: 1 },
    "dunning"
  ),
  e(
    [
      "overdue",
      "past due",
      "uberfallig*",
      "ruckstand*",
      "outstanding balance",
      "offenen betrag",
      "offener betrag",
      "zahlungseingang"
    ],
    { finance: 1.5, dunning: 2, severe: 1, urgent: 1 },
    "overdue"
  ),
  e(
    [
      "uberweisen*",
      "uberweisung*",
      "bezahlen",
      "begleichen",
      "pay online",
      "please pay",
      "payment due",
      "amount due",
      "zu leisten",
      "nachzahlung*",
      "zahlbar",
      "betrag von"
    ],
    { finance: 1, payment: 1.5, request: 0.5 },
    "payment"
  ),
  e(
    [
      "*lastschrift*",
      "direct debit",
      "abgebucht",
      "wird abgebucht",
      "eingezogen",
      "automatically charged",
      "will be collected"
    ],
    { finance: 1.5, calm: 0.5 },
    "direct-debit"
  ),
  e(
    [
      "kontoauszug*",
      "bank statement",
      "girokonto",
      "online banking",
      "online-banking",
      "kreditkarte*",
      "credit card",
      "iban",
      "bic",
      "sepa",
      "kontonummer",
      "bankverbindung"
    ],
    { finance: 1.5 },
    "bank"
  ),
  e(
    ["finanzamt*", "*steuer*", "tax return", "tax office", "hmrc", "irs", "steuerbescheid*", "einkommensteuer*"],
    { finance: 2, severe: 2 },
    "tax"
  ),
  e(["*versicherung*", "insurance", "policy", "premium", "pramie"], { finance: 1.5 }, "insurance"),
  e(
    [
      "transaction id",
      "transaktion*",
      "you sent a payment",
      "zahlung an",
      "payment to",
      "refund",
      "erstattung",
      "gutschrift"
    ],
    { finance: 1 }
  ),
  e(["kundennummer", "customer number", "vertragsnummer", "account number"], { finance: 0.5 }),
  e(["mwst", "ust", "vat", "netto", "brutto", "gesamtbetrag", "total amount"], { finance: 0.5 }),

  // ---------------------------------------------------------------- work
  e(["projekt*", "project*", "milestone*", "meilenstein*", "rollout", "roadmap", "sprint"], { work: 1.5 }, "project"),
  e(
    [
      "meeting*",
      "besprechung*",
      "workshop",
      "call",
      "telko",
      "jour fixe",
      "agenda",
      "tagesordnung",
      "termin*",
      "terminanfrage",
      "calendar invite",
      "invitation"
    ],
    { work: 1, meeting: 1.5 },
    "meeting"
  ),
  e(
    [
      "you have been invited",
      "einladung*",
      "organizer",
      "organisator",
      "going yes",
      "zusagen",
      "absagen",
      "accept decline"
    ],
    { meeting: 1.5, work: 0.5 }
  ),
  e(
    [
      "kunde*",
      "kundin",
      "customer*",
      "client*",
      "auftrag*",
      "angebotsanfrage",
      "anfrage",
      "quote",
      "proposal",
      "offer"
    ],
    { work: 1 }
  ),
  e(
    [
      "vertrag*",
      "contract*",
      "agreement",
      "rahmenvertrag*",
      "vereinbarung",
      "entwurf",
      "draft",
      "unterschrift",
      "unterschreiben",
      "signature",
      "signed",
      "to sign"
    ],
    { work: 1, severe: 0.3 },
    "contract"
  ),
  e(
    [
      "folien",
      "slides",
      "prasentation",
      "presentation",
      "report",
      "bericht",
      "zahlen",
      "figures",
      "budget",
      "q1",
      "q2",
      "q3",
      "q4",
      "kpi*"
    ],
    { work: 1 }
  ),
  e(
    [
      "team",
      "kollegen",
      "colleagues",
      "abteilung",
      "department",
      "head of",
      "leiter*",
      "geschaftsfuhrung",
      "management",
      "operations"
    ],
    { work: 0.7 }
  ),
  e(["review", "feedback", "freigabe", "approval", "approve", "comments", "kommentare", "anmerkungen"], {
    work: 0.7,
    request: 0.5
  }),
  e(
    [
      "eskalation*",
      "escalat*",
      "threatening to cancel",
      "kundigen",
      "kundigung*",
      "terminate",
      "termination",
      "abmahnung",
      "lawyer",
      "anwalt*",
      "rechtsanwalt*",
      "gericht*",
      "court",
      "legal action"
    ],
    { severe: 2.5, urgent: 0.5 },
    "escalation"
  ),
  e(["lager*", "warehouse", "logistik*", "shipment*", "container*", "zoll", "customs", "touren", "spedition"], {
    work: 1
  }),
  e(["buro", "office", "homeoffice", "arbeit", "job", "gehalt", "salary", "urlaubsantrag", "krankmeldung"], {
    work: 0.7
  }),

  // ---------------------------------------------------------------- personal
  e(
    [
      "hab dich lieb",
      "love you",
      "kuss",
      "kusse",
      "xx",
      "xoxo",
      "hugs",
      "umarmung",
      "mein schatz",
      "schatz",
      "liebe grusse",
      "lg",
      "cheers",
      "alles liebe",
      "bis bald"
    ],
    { personal: 2, human: 1.5 }
  ),
  e(
    [
      "mama",
      "papa",
      "mum",
      "mom",
      "dad",
      "oma",
      "opa",
      "tante",
      "onkel",
      "schwester",
      "bruder",
      "sister",
      "brother",
      "kids",
      "kinder",
      "familie",
      "family",
      "geburtstag*",
      "birthday",
      "party",
      "hochzeit",
      "wedding"
    ],
    { personal: 1.5, human: 0.5 },
    "family"
  ),
  e(
    [
      "grillen",
      "abendessen",
      "dinner",
      "essen",
      "kaffee",
      "coffee",
      "wochenende",
      "weekend",
      "urlaub",
      "vacation",
      "fotos",
      "photos",
      "recipe",
      "rezept",
      "kuchen",
      "cake",
      "lust",
      "catch up",
      "long time",
      "lange nicht"
    ],
    { personal: 1, human: 0.5 }
  ),
  e(
    [
      "wohnung",
      "vermieter*",
      "hausverwaltung*",
      "nebenkosten*",
      "zahler",
      "wasserzahler",
      "nachbarn",
      "schlussel",
      "landlord",
      "apartment",
      "flat",
      "tenant"
    ],
    { personal: 1.5 },
    "home"
  ),
  e(["abholen", "pick me up", "pick up", "auto", "werkstatt", "s bahn"], { personal: 0.7 }),
  e(["hey", "hi", "hallo", "liebe", "lieber", "hello", "dear", "moin", "servus", "guten tag", "sehr geehrte*"], {
    greeting: 1
  }),

  // ---------------------------------------------------------------- shopping
  e(
    [
      "bestellung*",
      "bestellnummer",
      "order",
      "orders",
      "your order",
      "ihre bestellung",
      "order number",
      "bestellbestatigung",
      "purchase",
      "einkauf",
      "warenkorb",
      "cart"
    ],
    { shopping: 2 },
    "order"
  ),
  e(
    [
      "versand*",
      "versendet",
      "shipped",
      "shipping",
      "sendung*",
      "paket*",
      "parcel",
      "package",
      "zustellung",
      "zugestellt",
      "delivered",
      "delivery",
      "tracking",
      "sendungsverfolgung",
      "tracking number",
      "carrier",
      "on its way",
      "unterwegs"
    ],
    { shopping: 1.5 },
    "shipping"
  ),
  e(["rucksendung*", "return", "returns", "retoure*", "umtausch"], { shopping: 1.5 }, "return"),
  e(
    [
      "artikel",
      "item*",
      "produkt*",
      "product*",
      "lieferung",
      "liefertermin",
      "voraussichtliche",
      "estimated delivery",
      "abholung",
      "postfiliale",
      "packstation",
      "pickup"
    ],
    { shopping: 1 }
  ),
  e(["leave a review", "rate your", "bewerten sie", "bewertung", "how did we do"], { shopping: 1, marketing: 0.5 }),

  // ---------------------------------------------------------------- travel
  e(
    [
      "flug*",
      "flight*",
      "abflug",
      "departure",
      "boarding",
      "gate",
      "check in",
      "online check in",
      "airline*",
      "airport",
      "flughafen"
    ],
    { travel: 2 },
    "flight"
  ),
  e(
    ["hotel*", "unterkunft", "accommodation", "check out", "zimmer", "ubernachtung*", "nights"],
    { travel: 1.5 },
    "hotel"
  ),
  e(
    [
      "zug",
      "train",
      "ice",
      "ic",
      "bahn*",
      "hbf",
      "gleis",
      "platform",
      "wagen",
      "platz",
      "fahrkarte",
      "ticket*",
      "hinfahrt",
      "ruckfahrt",
      "hinflug",
      "ruckflug"
    ],
    { travel: 1.5 },
    "train"
  ),
  e(
    [
      "buchung*",
      "booking*",
      "buchungscode",
      "confirmation number",
      "reservierung*",
      "reservation",
      "itinerary",
      "reiseplan",
      "gute fahrt",
      "angenehmen flug",
      "trip",
      "reise*"
    ],
    { travel: 1.5 },
    "booking"
  ),
  e(
    [
      "annulliert",
      "gestrichen",
      "storniert",
      "cancelled",
      "canceled",
      "streik*",
      "strike",
      "verspatung*",
      "delayed",
      "delay",
      "umgebucht",
      "rebooked",
      "gate change"
    ],
    { disruption: 2, travel: 0.5 }
  ),

  // ---------------------------------------------------------------- newsletter / marketing
  e(
    [
      "newsletter*",
      "unsubscribe",
      "abbestellen",
      "abmelden",
      "abmeldung",
      "austragen",
      "view in browser",
      "im browser ansehen",
      "webversion",
      "impressum",
      "datenschutz",
      "you are receiving this",
      "sie erhalten diese",
      "du erhaltst diese"
    ],
    { newsletter: 1.2 }
  ),
  e(
    [
      "sale",
      "rabatt*",
      "prozent",
      "off everything",
      "gutschein*",
      "coupon",
      "promo code",
      "rabattcode",
      "discount code",
      "with code",
      "mit dem code",
      "angebot*",
      "deal*",
      "schnappchen",
      "sparen",
      "save",
      "free shipping",
      "versandkostenfrei",
      "shop now",
      "jetzt entdecken",
      "jetzt shoppen",
      "last chance",
      "letzte chance",
      "don t miss",
      "nur heute",
      "ends tonight",
      "limited time"
    ],
    { marketing: 1.5, newsletter: 1 },
    "promotion"
  ),
  e(
    [
      "what s new",
      "was ist neu",
      "changelog",
      "this week",
      "diese woche",
      "themen",
      "highlights",
      "read on",
      "weiterlesen",
      "essay",
      "issue",
      "ausgabe"
    ],
    { newsletter: 0.8 }
  ),
  e(["mitglieder", "members", "verein*", "community"], { newsletter: 0.5 }),

  // ---------------------------------------------------------------- notification
  e(
    [
      "workflow",
      "run failed",
      "build failed",
      "pipeline",
      "repository",
      "pull request",
      "merge request",
      "commit",
      "deploy*",
      "ci",
      "issue #"
    ],
    { notification: 2, work: 0.5 },
    "dev"
  ),
  e(
    ["requested your review", "review requested", "mentioned you", "assigned to you", "hat dich erwahnt"],
    { notification: 1, request: 1.5 },
    "review"
  ),
  e(
    ["erinnerung", "reminder", "dies ist eine erinnerung", "this is a reminder"],
    { notification: 1, request: 0.3 },
    "reminder"
  ),
  e(
    [
      "sicherung*",
      "backup*",
      "speicher*",
      "storage",
      "synchronis*",
      "sync",
      "update verfugbar",
      "update available",
      "system",
      "server",
      "diskstation",
      "icloud",
      "quota"
    ],
    { notification: 1.5 }
  ),
  e(
    [
      "automatisch erzeugt*",
      "automatically generated",
      "do not reply",
      "bitte antworten sie nicht",
      "nicht auf diese",
      "noreply",
      "no reply"
    ],
    { notification: 1, calm: 0.3 }
  ),
  e(["kalender", "calendar", "umfrage", "survey"], { notification: 0.5 }),

  // ---------------------------------------------------------------- social
  e(
    ["linkedin", "xing", "facebook", "instagram", "twitter", "mastodon", "tiktok", "pinterest", "meta"],
    { social: 2 },
    "social"
  ),
  e(
    [
      "vernetzen",
      "kontaktanfrage",
      "connect",
      "connection",
      "follower*",
      "folgt dir",
      "profile",
      "profil",
      "searches",
      "commented",
      "kommentiert",
      "liked",
      "geliked",
      "gefallt",
      "beitrag",
      "post",
      "photo",
      "tagged",
      "markiert"
    ],
    { social: 1.5 }
  ),

  // ---------------------------------------------------------------- security
  e(
    [
      "security alert",
      "sicherheitswarnung",
      "sicherheitshinweis",
      "security notice",
      "sicherheit",
      "security",
      "secure your account",
      "konto schutzen"
    ],
    { security: 2 },
    "security"
  ),
  e(
    [
      "new sign in",
      "neue anmeldung",
      "sign in attempt",
      "anmeldeversuch",
      "unusual sign in",
      "unrecognized device",
      "unbekannten gerat",
      "new device",
      "neues gerat",
      "login attempt",
      "suspicious activity",
      "verdachtige aktivitat",
      "ungewohnliche aktivitat*",
      "unusual activity",
      "if this wasn t you",
      "wenn sie das nicht waren",
      "if this was you",
      "check activity"
    ],
    { security: 2.5, login: 3 },
    "login-alert"
  ),
  e(["passwort*", "password*", "kennwort"], { security: 1.5 }, "password"),
  e(
    [
      "passwort wurde geandert",
      "password was changed",
      "password has been changed",
      "passwort geandert",
      "changed your password"
    ],
    { security: 1.5, severe: 1.5 }
  ),
  e(["zurucksetzen", "reset", "password reset", "forgot your password"], { security: 1, reset: 2 }),
  e(
    [
      "verification code",
      "security code",
      "bestatigungscode",
      "sicherheitscode",
      "einmalcode",
      "one time code",
      "2fa",
      "two factor",
      "zwei faktor",
      "code expires",
      "expires in",
      "lauft in"
    ],
    { security: 2, otp: 3 },
    "2fa"
  ),
  e(["blocked", "blockiert", "locked", "gesperrt", "sperr notruf"], { security: 0.5, severe: 0.5 }),

  // ---------------------------------------------------------------- urgency
  e(
    [
      "dringend*",
      "urgent*",
      "asap",
      "eilt",
      "eilig",
      "sofort",
      "immediately",
      "umgehend",
      "as soon as",
      "so schnell wie moglich",
      "right away",
      "time sensitive"
    ],
    { urgent: 2 },
    "urgent"
  ),
  e(["heute", "today", "tonight", "heute abend", "this morning", "this afternoon"], { urgent: 1.5 }),
  e(["morgen", "tomorrow", "morgen fruh", "ubermorgen"], { urgent: 1.5 }),
  e(["guten morgen", "good morning", "morning"], { urgent: -1.5 }),
  e(["now", "jetzt", "ab sofort"], { urgent: 0.5 }),
  e(
    [
      "bitte",
      "please",
      "kannst du",
      "konnen sie",
      "konnten sie",
      "could you",
      "can you",
      "would you",
      "hattest du",
      "hast du",
      "let me know",
      "gib mir",
      "sag mir",
      "bescheid",
      "ruckmeldung",
      "get back to",
      "please reply",
      "reply by",
      "bitte antworte",
      "deine antwort",
      "ihre antwort",
      "confirm",
      "bestatigen",
      "review",
      "action needed",
      "action required",
      "handlungsbedarf",
      "erforderlich",
      "required",
      "need",
      "brauche",
      "i need"
    ],
    { request: 1 }
  ),
  e(
    [
      "fyi",
      "zur info",
      "zu ihrer information",
      "for your information",
      "no action needed",
      "no action required",
      "keine aktion",
      "nothing to do",
      "nichts weiter tun",
      "mussen nichts",
      "don t need to do anything",
      "nicht erforderlich",
      "just fyi",
      "nur zur info",
      "ignore this email",
      "ignoriere diese",
      "safely ignore"
    ],
    { calm: 2 }
  ),

  // ---------------------------------------------------------------- auto reply
  e(
    [
      "automatische antwort",
      "automatic reply",
      "auto reply",
      "out of office",
      "abwesenheit*",
      "nicht im buro",
      "not in the office",
      "out of the office"
    ],
    { autoreply: 3 },
    "auto-reply"
  ),

  // ---------------------------------------------------------------- spam & phishing
  e(
    [
      "lottery",
      "lotto",
      "lotterie",
      "jackpot",
      "you have won",
      "you ve won",
      "sie haben gewonnen",
      "gewinner",
      "winner",
      "lucky winner",
      "claim your prize",
      "prize",
      "preisgeld",
      "gewinnspiel",
      "award"
    ],
    { spam: 2.5 },
    "lottery"
  ),
  e(
    [
      "next of kin",
      "beneficiary",
      "inheritance",
      "erbschaft",
      "barrister",
      "deposit of",
      "confidential business",
      "business proposal",
      "transfer the funds",
      "funds can be transferred",
      "million dollars",
      "millionen",
      "us dollars",
      "dear friend",
      "late mr",
      "yours faithfully"
    ],
    { spam: 2 },
    "scam"
  ),
  e(
    [
      "bitcoin",
      "btc",
      "krypto*",
      "crypto*",
      "trading bot",
      "trading-bot",
      "passives einkommen",
      "passive income",
      "ohne risiko",
      "risk free",
      "risikofrei",
      "verdienen",
      "earn",
      "gewinne",
      "rendite",
      "investment opportunity",
      "startkapital"
    ],
    { spam: 1.2 },
    "crypto"
  ),
  e(
    [
      "viagra",
      "v1agra",
      "cialis",
      "c1alis",
      "pills",
      "pill",
      "prescription",
      "rezeptfrei",
      "potenz*",
      "pharmacy",
      "apotheke online"
    ],
    { spam: 3 },
    "pharma"
  ),
  e(
    [
      "webcam",
      "hacked",
      "gehackt",
      "recorded you",
      "adult websites",
      "video to all your contacts",
      "btc wallet",
      "bitcoin wallet",
      "your device",
      "ihr gerat gehackt"
    ],
    { spam: 3 },
    "extortion"
  ),
  e(
    [
      "seo",
      "first page of google",
      "ranking",
      "top 3 positions",
      "business owner",
      "website design",
      "marketing services",
      "backlinks",
      "price list"
    ],
    { spam: 1.5 }
  ),
  e(
    [
      "100 guaranteed",
      "100 satisfaction",
      "100 free",
      "guaranteed",
      "garantiert",
      "no prescription",
      "order now",
      "act now",
      "click here",
      "klicken sie hier",
      "hier klicken",
      "kostenlos registrieren",
      "nur noch",
      "platze frei",
      "die banken wollen nicht",
      "unglaublich",
      "trick",
      "discreet",
      "diskret",
      "worldwide shipping"
    ],
    { spam: 1 }
  ),
  e(
    [
      "verify your account",
      "confirm your identity",
      "bestatigen sie ihre identitat",
      "identitat bestatigen",
      "ihre identitat",
      "zahlungsdaten",
      "payment details",
      "update your payment",
      "kontodaten",
      "zugangsdaten",
      "login details",
      "anmeldedaten",
      "pin",
      "tan",
      "bank details",
      "bankdaten",
      "passport",
      "reisepass",
      "kreditkartendaten",
      "credit card details",
      "daten aktualisieren",
      "ihre daten",
      "your details"
    ],
    { phish: 2 },
    "credentials"
  ),
  e(
    [
      "eingeschrankt",
      "vorubergehend",
      "dauerhaft gesperrt",
      "wird gesperrt",
      "permanently",
      "suspended",
      "suspension",
      "account limited",
      "konto wurde",
      "innerhalb von 24 stunden",
      "within 24 hours",
      "within 48 hours",
      "48 stunden",
      "24 stunden",
      "andernfalls",
      "otherwise your account"
    ],
    { phish: 1.2 }
  ),
  e(
    [
      "sehr geehrter kunde",
      "sehr geehrte kundin",
      "dear customer",
      "dear user",
      "dear client",
      "hello business owner",
      "dear sir madam"
    ],
    { phish: 0.5, spam: 0.3 }
  ),
  e(
    [
      "processing fee",
      "bearbeitungsgebuhr",
      "versandkosten von",
      "small fee",
      "release the funds",
      "western union",
      "moneygram",
      "gift card",
      "geschenkkarte"
    ],
    { spam: 2 }
  ),
  e(
    [
      "offnen sie die datei",
      "open the attached file",
      "open the attachment",
      "siehe anhang datei",
      "anbei erhalten sie die noch offene"
    ],
    { spam: 1.5 }
  )
]
