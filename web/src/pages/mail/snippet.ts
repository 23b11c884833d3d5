/**
 * Search snippets arrive HTML-escaped with the matches wrapped in `<mark>`. They are never given to
 * innerHTML: this splits them into plain-text pieces (entities decoded) and marks, which React
 * renders as text nodes inside `<mark>` elements. Anything else that looks like a tag stays text.
 */
export interface SnippetPiece {
  readonly text: string
  readonly marked: boolean
}

const entities: Readonly<Record<string, string>> = {
  "&amp;": "&",
  "&lt;": "<",
  "&gt;": ">",
  "&quot;": '"',
  "&#39;": "'",
  "&#x27;": "'",
  "&apos;": "'"
}

const decodeEntities = (escaped: string): string =>
  escaped.replace(/&(?:amp|lt|gt|quot|apos|#39|#x27);/g, (entity) => entities[entity] ?? entity)

export const snippetPieces = (snippet: string): ReadonlyArray<SnippetPiece> => {
  const pieces: Array<SnippetPiece> = []
  let marked = false
  for (const part of snippet.split(/(<mark>|<\/mark>)/)) {
    if (part === "<mark>") marked = true
    else if (part === "</mark>") marked = false
    else if (part.length > 0) pieces.push({ text: decodeEntities(part), marked })
  }
  return pieces
}
