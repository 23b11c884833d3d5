import { type JSX, useCallback, useState } from "react"
import { useStrings } from "../../i18n/index.ts"
import type { EmailId } from "../../pages/mail/types.ts"
import { useArchive } from "../../pages/mail/useArchive.ts"
import { mailStrings } from "./mail.i18n.ts"

export type ArchiveNote =
  | { readonly kind: "none" }
  | { readonly kind: "archiving" | "archived" | "unavailable"; readonly subject: string }
  | { readonly kind: "failed"; readonly message: string }

interface Archivable {
  readonly id: EmailId
  readonly accountId: string
  readonly subject: string | null
}

/**
 * The `e` key's state for a page: `request(email)` archives it when its account has an Archive
 * folder, else says why the key is off; `note` is what `ArchiveStatus` shows; `archivedIds` the
 * messages sent to Archive from this page (hidden from its list at once).
 */
export const useArchiveKey = () => {
  const t = useStrings(mailStrings)
  const { targets, canArchive, archive } = useArchive()
  const [note, setNote] = useState<ArchiveNote>({ kind: "none" })
  const [archivedIds, setArchivedIds] = useState<ReadonlySet<string>>(new Set())
  const request = useCallback(
    async (email: Archivable): Promise<boolean> => {
      const subject = email.subject ?? t("noSubject")
      if (canArchive(email.accountId) !== true) {
        setNote({ kind: "unavailable", subject })
        return false
      }
      setNote({ kind: "archiving", subject })
      const result = await archive(email.id)
      if (!result.ok) {
        setNote({ kind: "failed", message: result.failure.message })
        return false
      }
      setArchivedIds((before) => new Set([...before, email.id]))
      setNote({ kind: "archived", subject })
      return true
    },
    [archive, canArchive, t]
  )
  /** Whether `e` means anything on this page: some account has an Archive folder (known once loaded). */
  const anyArchive = targets.status === "ok" && targets.accounts.size > 0
  return { note, request, archivedIds, canArchive, anyArchive }
}

/** One live line saying what the last `e` did (or why it is off). */
export function ArchiveStatus({ note }: { readonly note: ArchiveNote }): JSX.Element {
  const t = useStrings(mailStrings)
  const text =
    note.kind === "none"
      ? ""
      : note.kind === "failed"
        ? t("archiveFailed", { message: note.message })
        : note.kind === "unavailable"
          ? t("noArchive")
          : t(note.kind, { subject: note.subject })
  return (
    <p
      className={note.kind === "failed" || note.kind === "unavailable" ? "notice" : "hint"}
      role="status"
      data-archive-status={note.kind}
    >
      {text}
    </p>
  )
}
