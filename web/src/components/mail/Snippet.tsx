import type { JSX } from "react"
import { snippetPieces } from "../../pages/mail/snippet.ts"

/** A search snippet as text with `<mark>` around the matches; nothing of it is parsed as HTML. */
export function Snippet({ snippet }: { readonly snippet: string }): JSX.Element {
  return (
    <span className="snippet">
      {snippetPieces(snippet).map((piece, index) =>
        // pieces are positional and never reordered
        // biome-ignore lint/suspicious/noArrayIndexKey: the index is the piece's identity
        piece.marked ? <mark key={index}>{piece.text}</mark> : <span key={index}>{piece.text}</span>
      )}
    </span>
  )
}
