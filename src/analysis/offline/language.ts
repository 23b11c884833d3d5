import type { Language } from "../../contract/analysis/Analysis.ts"

/**
 * Stopword-count language detection for German and English. Words that are
 * common in both languages (in, an, so, was, will, am, um) are left out.
 * Words are in normal form (folded, lowercase; see text.ts).
 */
export const germanStopwords: ReadonlySet<string> = new Set([
  "der",
  "die",
  "das",
  "und",
  "ist",
  "nicht",
  "ich",
  "sie",
  "wir",
  "ein",
  "eine",
  "einen",
  "einem",
  "einer",
  "mit",
  "fur",
  "auf",
  "zu",
  "den",
  "dem",
  "des",
  "sich",
  "auch",
  "bitte",
  "ihr",
  "ihre",
  "ihnen",
  "ihrem",
  "ihren",
  "ihrer",
  "sind",
  "wird",
  "werden",
  "haben",
  "hat",
  "bei",
  "von",
  "im",
  "vom",
  "zum",
  "zur",
  "noch",
  "nach",
  "wie",
  "wenn",
  "oder",
  "aber",
  "dass",
  "du",
  "dir",
  "dich",
  "mir",
  "mich",
  "uns",
  "euch",
  "wurde",
  "wurden",
  "aus",
  "sehr",
  "gerne",
  "gern",
  "schon",
  "nur",
  "kann",
  "konnen",
  "diese",
  "dieser",
  "dieses",
  "hier",
  "jetzt",
  "mal",
  "uber",
  "unter",
  "ab",
  "bis",
  "dein",
  "deine",
  "mein",
  "meine",
  "unser",
  "unsere",
  "ihres",
  "sowie",
  "vielen",
  "dank",
  "fuer",
  "koennen"
])

export const englishStopwords: ReadonlySet<string> = new Set([
  "the",
  "and",
  "is",
  "are",
  "you",
  "your",
  "to",
  "of",
  "for",
  "on",
  "with",
  "this",
  "that",
  "we",
  "our",
  "it",
  "be",
  "have",
  "has",
  "please",
  "not",
  "from",
  "at",
  "by",
  "as",
  "can",
  "if",
  "or",
  "but",
  "my",
  "me",
  "i",
  "they",
  "them",
  "their",
  "there",
  "what",
  "when",
  "which",
  "would",
  "could",
  "should",
  "been",
  "were",
  "do",
  "does",
  "did",
  "just",
  "all",
  "any",
  "about",
  "more",
  "here",
  "get",
  "thanks",
  "thank",
  "new",
  "now",
  "into",
  "out",
  "up"
])

export interface LanguageGuess {
  readonly language: Language
  readonly german: number
  readonly english: number
}

export const detectLanguage = (words: ReadonlyArray<string>): LanguageGuess => {
  let german = 0
  let english = 0
  let counted = 0
  for (const w of words) {
    if (w.length > 12) continue
    counted++
    if (germanStopwords.has(w)) german++
    if (englishStopwords.has(w)) english++
  }
  const total = german + english
  // Too few signal words, or too few relative to the text: some other language.
  if (total < 2 || (counted >= 20 && total / counted < 0.06)) return { language: "other", german, english }
  if (german >= english * 1.2) return { language: "de", german, english }
  if (english >= german * 1.2) return { language: "en", german, english }
  return { language: german >= english ? "de" : "en", german, english }
}
