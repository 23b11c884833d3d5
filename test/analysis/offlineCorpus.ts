import { simpleParser } from "mailparser"
import type { AnalysisInput } from "../../src/contract/analysis/Analysis.ts"
import { generateMessages } from "../harness/mailgen.ts"
import { devSet } from "./fixtures/dev.ts"
import { holdoutSet } from "./fixtures/holdout.ts"

/**
 * A corpus for comparing the offline classifier's output before and after a change that must not
 * alter it (test/analysis/offlineGolden.test.ts): the labelled fixtures as they are, grown to
 * >= 4,000 characters, with a quoted reply, with a trailing signature block of short lines and with
 * many short sentences (the summary's line and sentence limits), and generated mail (mailgen,
 * parsed as the sync parses it) with German and English bodies from about 1 KB to 200 KB.
 */

export interface CorpusEntry {
  readonly name: string
  readonly input: AnalysisInput
}

const grown = (input: AnalysisInput): AnalysisInput => {
  let text = input.text
  while (text.length < 4_000) text += `\n\n${input.text}`
  return { ...input, text }
}

const signatureTail = (input: AnalysisInput): AnalysisInput => ({
  ...input,
  text: `${input.text}\n\nMax Mustermann\nTeam Lead\nBeispiel GmbH\nMusterstraße 1\nHamburg`
})

const quotedReply = (input: AnalysisInput): AnalysisInput => ({
  ...input,
  subject: `Re: ${input.subject}`,
  text: `Thanks, noted.\n\nOn Mon, 2 Mar 2026 at 10:00, Someone wrote:\n${input.text
    .split("\n")
    .map((line) => `> ${line}`)
    .join("\n")}`
})

const manySentences = (input: AnalysisInput, index: number): AnalysisInput => {
  const lines: Array<string> = []
  for (let i = 0; i < 60; i++) lines.push(`Point ${i + index}. Please check item ${i} by Friday. Done`)
  lines.push("Kind regards")
  lines.push("Short Name")
  return { ...input, text: `${lines.join("\n")}\n${input.text}` }
}

/** Short lines only after the 40th sentence: the summary's trailing-line rule decides. */
const bareTail = (input: AnalysisInput): AnalysisInput => {
  const lines: Array<string> = []
  for (let i = 0; i < 45; i++) lines.push(i < 38 ? `Sentence number ${i} is here. Another one follows` : `Bare ${i}`)
  return { ...input, text: lines.join("\n") }
}

/** The 40th sentence in a trailing block of bare short lines (a signature), which the summary drops. */
const sentenceCapInSignature = (input: AnalysisInput): AnalysisInput => {
  const lines: Array<string> = []
  for (let i = 0; i < 38; i++) lines.push(`Line ${i} says something about the project`)
  return { ...input, text: `${lines.join("\n")}\nMax Mustermann\nTeam Lead\nBeispiel GmbH\nHamburg\nGermany` }
}

export const fixtureCorpus = (): Array<CorpusEntry> => {
  const out: Array<CorpusEntry> = []
  ;[...devSet, ...holdoutSet].forEach((m, i) => {
    out.push({ name: `fixture ${i}`, input: m.input })
    out.push({ name: `fixture ${i} grown`, input: grown(m.input) })
    out.push({ name: `fixture ${i} signature`, input: signatureTail(m.input) })
    out.push({ name: `fixture ${i} quoted`, input: quotedReply(m.input) })
    out.push({ name: `fixture ${i} sentences`, input: manySentences(m.input, i) })
    out.push({ name: `fixture ${i} bare tail`, input: bareTail(m.input) })
    out.push({ name: `fixture ${i} sentence cap in signature`, input: sentenceCapInSignature(m.input) })
  })
  return out
}

export const generatedCorpus = async (count: number, seed: number): Promise<Array<CorpusEntry>> => {
  const out: Array<CorpusEntry> = []
  for (const [i, m] of generateMessages(count, { seed }).entries()) {
    const parsed = await simpleParser(m.raw)
    out.push({
      name: `mailgen ${seed}/${i}`,
      input: {
        subject: parsed.subject ?? "",
        from: { name: m.from.name, address: m.from.address },
        to: ["me@example.com"],
        date: m.date,
        text: (parsed.text ?? "").slice(0, 100_000),
        headers: {},
        hasAttachments: m.attachments.length > 0,
        attachmentNames: m.attachments.map((a) => a.filename)
      }
    })
  }
  return out
}
