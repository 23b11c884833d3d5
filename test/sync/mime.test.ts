import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  defaultMimeLimits,
  type MimeLimits,
  type MimeParserName,
  mimeParserNames,
  type ParsedMessage,
  parseMessage,
  sanitizedHtmlToText,
  threadKeyCandidates,
  truncateUtf8
} from "../../src/sync/mime.ts"
import { sanitizeMailHtml } from "../../src/sync/htmlSanitizer.ts"
import { generateMessages } from "../harness/mailgen.ts"

const fixture = (name: string): Buffer => fs.readFileSync(new URL(`../fixtures/mail/${name}`, import.meta.url))
/** Parses with `parser` whatever limits a test passes. */
const parserOf =
  (parser: MimeParserName) =>
  (source: Uint8Array, limits: MimeLimits = defaultMimeLimits) =>
    Effect.promise(() => parseMessage(source, { ...limits, parser }))
const hasWarning = (parsed: ParsedMessage, pattern: RegExp) =>
  assert.isTrue(
    parsed.warnings.some((warning) => pattern.test(warning)),
    `expected a warning matching ${pattern}, got ${JSON.stringify(parsed.warnings)}`
  )

/** No executable content may survive sanitizing, whatever the input. */
const assertInert = (html: string) => {
  assert.notMatch(html, /<script/i)
  assert.notMatch(html, /<(iframe|object|embed|svg|math|form|input|style|meta|base|link|video|details)\b/i)
  assert.notMatch(html, /\son[a-z]+\s*=/i)
  assert.notMatch(html, /javascript:|vbscript:|data:text/i)
  assert.notMatch(html, /\sstyle\s*=/i)
  assert.notMatch(html, /\ssrc\s*=\s*"https?:/i)
}

// every behaviour below holds for both MIME libraries (MAIL_PARSER); where they differ, it says so
describe.each(mimeParserNames)("parseMessage with %s", (parser) => {
  const parse = parserOf(parser)
  describe("on a hostile corpus", () => {
    const corpus = fs.readdirSync(new URL("../fixtures/mail/", import.meta.url)).filter((name) => name.endsWith(".eml"))

    it.effect("parses every fixture without failing, and every HTML body is inert", () =>
      Effect.gen(function* () {
        assert.isAtLeast(corpus.length, 10)
        for (const name of corpus) {
          const parsed = yield* parse(fixture(name))
          assert.strictEqual(parsed.size, fixture(name).length, name)
          if (parsed.htmlBody !== null) assertInert(parsed.htmlBody)
          for (const text of [parsed.subject, parsed.textBody, parsed.htmlBody]) assert.notInclude(text ?? "", "\u0000")
        }
      })
    )

    it.effect(
      "script-laden HTML keeps its content and loses scripts, handlers, javascript: URLs and remote loads",
      () =>
        Effect.gen(function* () {
          const parsed = yield* parse(fixture("script-laden.eml"))
          const html = parsed.htmlBody ?? ""
          assertInert(html)
          assert.include(html, "<p>Hello <b>friend</b></p>")
          assert.include(html, 'href="https://example.com/ok"')
          assert.include(html, 'rel="noopener noreferrer nofollow"')
          assert.include(html, 'href="mailto:someone@example.com"')
          assert.include(html, '<td colspan="2">cell</td>')
          // the tracking pixel is kept inert, for a "load images" button
          assert.include(html, 'data-remote-src="https://tracker.example/pixel.gif"')
          assert.include(html, 'src="cid:logo@example.net"')
          assert.include(html, 'src="data:image/png;base64,iVBORw0KGgo="')
          assert.notInclude(html, "image/svg+xml")
          assert.notInclude(html, 'data-remote-src="javascript')
          assert.notInclude(html, "evil.example")
          assert.notInclude(html, "document.cookie")
        })
    )

    it.effect("remote images can be allowed explicitly", () =>
      Effect.gen(function* () {
        const parsed = yield* parse(fixture("script-laden.eml"), { ...defaultMimeLimits, allowRemoteImages: true })
        assert.include(parsed.htmlBody ?? "", 'src="https://tracker.example/pixel.gif"')
        assert.notInclude(parsed.htmlBody ?? "", "onerror")
      })
    )

    it.effect("German encoded words, RFC 2231 file names, groups and threading headers", () =>
      Effect.gen(function* () {
        const parsed = yield* parse(fixture("german-encoded-words.eml"))
        assert.strictEqual(parsed.subject, "Grüße aus Köln – Änderung")
        assert.deepStrictEqual(parsed.from, [{ name: "Jürgen Müller", address: "juergen@example.de" }])
        assert.deepStrictEqual(parsed.to, [
          { name: "Anna Schäfer", address: "anna@example.de" },
          { name: "Björn", address: "bjoern@example.de" }
        ])
        assert.deepStrictEqual(parsed.cc, [
          { name: null, address: "a@example.de" },
          { name: "Käthe", address: "kaethe@example.de" }
        ])
        assert.strictEqual(parsed.textBody, "Schöne Grüße, die Änderungen sind im Anhang.")
        assert.strictEqual(parsed.date?.toISOString(), "2025-02-03T09:00:00.000Z")
        assert.strictEqual(parsed.messageId, "<umlaut-1@example.de>")
        assert.strictEqual(parsed.inReplyTo, "<root@example.de>")
        assert.deepStrictEqual(parsed.references, ["<root@example.de>", "<middle@example.de>"])
        assert.deepStrictEqual(parsed.attachments, [
          {
            filename: "Übersicht März.pdf",
            contentType: "application/pdf",
            size: 9,
            contentId: null,
            disposition: "attachment",
            // sha256 of the decoded bytes "%PDF-1.4\n"
            sha256: "e5c62df5dab5c87b6a015ef3d43597074d1eec433b15f51aec63b8582d0e4ab4"
          }
        ])
        assert.deepStrictEqual(parsed.warnings, [])
        assert.deepStrictEqual(threadKeyCandidates(parsed), [
          "root@example.de",
          "middle@example.de",
          "umlaut-1@example.de"
        ])
      })
    )

    it.effect(
      "unknown charsets and 8-bit garbage decode (mailparser: replacement characters and a warning; postal-mime: windows-1252)",
      () =>
        Effect.gen(function* () {
          const unknown = yield* parse(fixture("unknown-charset.eml"))
          assert.strictEqual(unknown.subject, "Hallo Welt and über")
          assert.include(unknown.textBody ?? "", "und weiter.")
          const wrong = yield* parse(fixture("bad-charset-html.eml"))
          const garbage = yield* parse(fixture("8bit-garbage.eml"))
          assert.strictEqual(garbage.messageId, "<garbage@example.com>")
          assert.deepStrictEqual(
            garbage.from.map((a) => a.address),
            ["x@example.com"]
          )
          hasWarning(garbage, /NUL characters removed/)
          // Latin-1 bytes in a part declared UTF-8: U+FFFD with both
          hasWarning(wrong, /undecodable characters/)
          if (parser === "mailparser") {
            hasWarning(unknown, /undecodable characters/)
            hasWarning(garbage, /undecodable/)
          } else {
            // unknown charsets and non-UTF-8 headers read as windows-1252 (the WHATWG fallback), flagged
            assert.include(unknown.textBody ?? "", "Grüße aus Köln")
            assert.deepStrictEqual(unknown.from, [{ name: "Müller", address: "mueller@example.de" }])
            hasWarning(unknown, /unknown charset x-bogus-charset, x-unknown-42, x-totally-unknown/)
            hasWarning(garbage, /headers contain 8-bit bytes that are not UTF-8/)
          }
        })
    )

    it.effect("broken boundaries and broken base64 still yield the readable parts", () =>
      Effect.gen(function* () {
        const boundary = yield* parse(fixture("broken-boundary.eml"))
        assert.include(boundary.textBody ?? "", "Visible text of the real part.")
        assert.deepStrictEqual(
          boundary.attachments.map((a) => a.filename),
          ["cut.pdf"]
        )
        const base64 = yield* parse(fixture("broken-base64.eml"))
        assert.strictEqual(base64.textBody, "See attachment.")
        assert.strictEqual(base64.attachments[0]?.filename, "x.png")
      })
    )

    it.effect("missing headers, unparsable dates and header-less input are reported, never invented", () =>
      Effect.gen(function* () {
        const bare = yield* parse(fixture("missing-headers.eml"))
        assert.strictEqual(bare.messageId, null)
        assert.strictEqual(bare.date, null)
        hasWarning(bare, /Message-ID/)
        hasWarning(bare, /From/)
        assert.deepStrictEqual(threadKeyCandidates(bare), [])
        const partial = yield* parse(fixture("no-from-no-date.eml"))
        assert.strictEqual(partial.subject, "Nothing else")
        assert.strictEqual(partial.headers.xMailer, "Ancient Mailer 1.0")
        hasWarning(partial, /missing Date/)
        const badDate = yield* parse(fixture("invalid-date.eml"))
        assert.strictEqual(badDate.date, null, "mailparser's 'now' fallback must not leak through")
        hasWarning(badDate, /unparsable Date/)
        const odd = yield* parse(fixture("odd-line-endings.eml"))
        assert.strictEqual(odd.size, fixture("odd-line-endings.eml").length)
      })
    )

    it.effect("HTML-only newsletter: text derived from HTML, list headers kept", () =>
      Effect.gen(function* () {
        const parsed = yield* parse(fixture("html-only.eml"))
        assert.include(parsed.textBody ?? "", "First item & more")
        assert.strictEqual(
          parsed.headers.listUnsubscribe,
          "<https://example.com/unsub?id=1>, <mailto:unsub@example.com>"
        )
        assert.strictEqual(parsed.headers.listUnsubscribePost, "List-Unsubscribe=One-Click")
        assert.strictEqual(parsed.headers.listId, "Example News <news.example.com>")
        assert.strictEqual(parsed.headers.precedence, "bulk")
        assert.strictEqual(parsed.headers.autoSubmitted, "auto-generated")
      })
    )
  })

  describe("limits", () => {
    const header =
      "From: a@example.com\r\nMessage-ID: <limits@example.com>\r\nDate: Tue, 04 Feb 2025 10:00:00 +0100\r\n"

    it.effect("a message above maxMessageBytes is not parsed beyond its headers", () =>
      Effect.gen(function* () {
        const source = Buffer.from(
          `From: =?utf-8?q?J=C3=BCrgen?= <a@example.com>\r\nSubject: big\r\nMessage-ID: <big@x>\r\n\r\n${"x".repeat(300_000)}`
        )
        const parsed = yield* parse(source, { ...defaultMimeLimits, maxMessageBytes: 100_000 })
        assert.isFalse(parsed.bodyParsed)
        assert.strictEqual(parsed.textBody, null)
        assert.strictEqual(parsed.subject, "big")
        assert.deepStrictEqual(parsed.from, [{ name: "Jürgen", address: "a@example.com" }])
        hasWarning(parsed, /exceeds 100000 bytes/)
      })
    )

    it.effect("huge headers are cut, not fatal", () =>
      Effect.gen(function* () {
        const junk = `X-Junk: ${"a".repeat(70)}${`\r\n ${"b".repeat(70)}`.repeat(20_000)}\r\n`
        const source = Buffer.from(`${header}Subject: huge header\r\n${junk}\r\nbody\r\n`)
        const parsed = yield* parse(source)
        assert.strictEqual(parsed.subject, "huge header")
        assert.strictEqual(parsed.messageId, "<limits@example.com>")
        assert.isFalse(parsed.bodyParsed)
        hasWarning(parsed, /header block cut/)
      })
    )

    it.effect("deeply nested multiparts parse up to the part limit and degrade past it", () =>
      Effect.gen(function* () {
        const nested = (depth: number) => {
          let body = "Content-Type: text/plain\r\n\r\ninnermost text\r\n"
          for (let i = depth; i > 0; i--) {
            body = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${body}--b${i}--\r\n`
          }
          return Buffer.from(`${header}Subject: deep\r\nMIME-Version: 1.0\r\n${body}`)
        }
        const deep = yield* parse(nested(200))
        assert.strictEqual(deep.textBody, "innermost text")
        const tooDeep = yield* parse(nested(2_000))
        assert.strictEqual(tooDeep.subject, "deep")
        assert.isFalse(tooDeep.bodyParsed)
        hasWarning(tooDeep, parser === "mailparser" ? /child nodes/ : /nesting depth|part count/)
      })
    )

    it.effect("text and HTML are capped; attachments beyond the limit are only counted", () =>
      Effect.gen(function* () {
        const html = Buffer.from(
          `${header}Subject: big html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>${"Grüße <b>x</b> ".repeat(40_000)}</p>`
        )
        const limits = { ...defaultMimeLimits, maxHtmlBytes: 100_000, maxTextBytes: 50_000 }
        const parsed = yield* parse(html, limits)
        assert.isAtMost(Buffer.byteLength(parsed.htmlBody ?? ""), 100_000)
        assert.isAtMost(Buffer.byteLength(parsed.textBody ?? ""), 50_000)
        assert.include(parsed.textBody ?? "", "Grüße x")
        hasWarning(parsed, /HTML body cut/)

        const parts = Array.from(
          { length: 30 },
          (_, i) =>
            `--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="f${i}.bin"\r\n\r\nxx\r\n`
        ).join("")
        const many = Buffer.from(`${header}Content-Type: multipart/mixed; boundary="b"\r\n\r\n${parts}--b--\r\n`)
        const manyParsed = yield* parse(many, { ...defaultMimeLimits, maxAttachments: 10 })
        assert.strictEqual(manyParsed.attachments.length, 10)
        hasWarning(manyParsed, /20 attachments beyond the limit of 10/)
      })
    )

    it.effect("arbitrary bytes never make it fail", () =>
      Effect.gen(function* () {
        let state = 12345
        const random = () => {
          state = (state * 1103515245 + 12345) >>> 0
          return state >>> 24
        }
        for (let i = 0; i < 50; i++) {
          const bytes = Buffer.from(Array.from({ length: 200 + i * 97 }, random))
          const mixed =
            i % 2 === 0
              ? Buffer.concat([
                  Buffer.from(`${header}Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\n`),
                  bytes
                ])
              : bytes
          const parsed = yield* parse(mixed)
          assert.strictEqual(parsed.size, mixed.length)
        }
      })
    )
  })

  describe("on generated mail", () => {
    it.effect("matches what the generator wrote", () =>
      Effect.gen(function* () {
        for (const message of generateMessages(150, { seed: 99 })) {
          const parsed = yield* parse(Buffer.from(message.raw))
          assert.strictEqual(parsed.messageId, message.messageId)
          assert.strictEqual(parsed.subject, message.subject)
          assert.strictEqual(parsed.inReplyTo, message.inReplyTo)
          assert.deepStrictEqual(parsed.references, message.references)
          assert.deepStrictEqual(parsed.from, [message.from])
          assert.strictEqual(parsed.date?.getTime(), Math.floor(message.date.getTime() / 1000) * 1000)
          assert.deepStrictEqual(
            parsed.attachments.map((a) => [a.filename, a.contentType, a.size]),
            message.attachments.map((a) => [a.filename, a.contentType, a.size])
          )
          assert.isNotNull(parsed.textBody)
          if (message.kind !== "plain") assert.isNotNull(parsed.htmlBody)
          assert.deepStrictEqual(parsed.warnings, [])
          // every reply of a generated thread agrees on the thread key without a lookup
          assert.strictEqual(threadKeyCandidates(parsed)[0], message.threadRootId.slice(1, -1))
        }
      })
    )
  })
})

describe("helpers", () => {
  it("truncateUtf8 never splits a character", () => {
    const cut = truncateUtf8("ääää", 5)
    assert.strictEqual(cut.text, "ää")
    assert.isTrue(cut.truncated)
    assert.deepStrictEqual(truncateUtf8("abc", 10), { text: "abc", truncated: false })
  })

  it("sanitizedHtmlToText decodes entities and keeps paragraphs", () => {
    assert.strictEqual(sanitizedHtmlToText("<p>a &amp; b</p><p>c&#252;&#x41;</p>"), "a & b\ncüA")
  })

  it("the sanitizer drops handlers and dangerous URLs in any spelling", () => {
    const vectors = [
      `<a href="  javascript:alert(1)">x</a>`,
      `<a href="java\nscript:alert(1)">x</a>`,
      `<a href="&#x6A;avascript:alert(1)">x</a>`,
      `<img src=x onerror=alert(1)//>`,
      `<IMG SRC="jav&#x09;ascript:alert('XSS');">`,
      `<svg><script>alert(1)</script></svg>`,
      `<div style="width: expression(alert(1))">x</div>`,
      `<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>`,
      `<iframe srcdoc="<script>alert(1)</script>"></iframe>`,
      `<p onclick="x()" ONMOUSEOVER="y()">x</p>`,
      `<a href="https://ok.example" style="position:fixed">ok</a>`
    ]
    for (const vector of vectors) assertInert(sanitizeMailHtml(vector))
  })

  it("threadKeyCandidates orders root, parent, ancestors, self", () => {
    assert.deepStrictEqual(
      threadKeyCandidates({
        messageId: "<self@x>",
        inReplyTo: "<parent@x>",
        references: ["<root@x>", "<a@x>", "<parent@x>"]
      }),
      ["root@x", "parent@x", "a@x", "self@x"]
    )
    assert.deepStrictEqual(threadKeyCandidates({ messageId: "<only@x>", inReplyTo: null, references: [] }), ["only@x"])
  })
})
