import { defineStrings } from "../i18n/index.ts"

export const searchStrings = defineStrings(
  "search",
  {
    title: "Search",
    query: "Search your mail",
    queryHint: 'Words, "exact phrases", or, -excluded',
    mode: "How to search",
    hybrid: "Both (best of words and meaning)",
    fulltext: "Words",
    semantic: "Meaning",
    submit: "Search",
    searching: "Searching…",
    failed: "The search failed.",
    semanticUnavailable: "Search by meaning is not available right now. Search by words still works.",
    useWords: "Search by words",
    results: "{{count}} results for “{{query}}”",
    noResults: "Nothing found for “{{query}}”. Try other words, or search by meaning.",
    startTitle: "Search all your mail",
    startText: "Type a few words and press Enter. Matches are highlighted.",
    noSnippet: "(no text)",
    score: "relevance {{score}}"
  },
  {
    title: "Suche",
    query: "Deine Post durchsuchen",
    queryHint: 'Wörter, "genaue Ausdrücke", or, -ausgeschlossen',
    mode: "Wie suchen",
    hybrid: "Beides (Wörter und Bedeutung)",
    fulltext: "Wörter",
    semantic: "Bedeutung",
    submit: "Suchen",
    searching: "Suche …",
    failed: "Die Suche ist fehlgeschlagen.",
    semanticUnavailable: "Die Suche nach Bedeutung ist gerade nicht verfügbar. Die Suche nach Wörtern geht weiter.",
    useWords: "Nach Wörtern suchen",
    results: "{{count}} Treffer für „{{query}}“",
    noResults: "Nichts gefunden für „{{query}}“. Versuche andere Wörter oder die Suche nach Bedeutung.",
    startTitle: "Durchsuche deine ganze Post",
    startText: "Gib ein paar Wörter ein und drücke Enter. Treffer werden hervorgehoben.",
    noSnippet: "(kein Text)",
    score: "Relevanz {{score}}"
  }
)
