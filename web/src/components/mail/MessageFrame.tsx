import { type JSX, useMemo, useState } from "react"
import { FRAME_SANDBOX, frameDocument } from "../../pages/mail/messageFrame.ts"

export interface MessageFrameProps {
  readonly html: string
  readonly language: string
  readonly title: string
  readonly blockedNotice: (count: number) => string
  readonly loadImagesLabel: string
}

/**
 * The message's sanitised HTML in a sandboxed frame (no scripts, no same origin) under its own CSP;
 * remote images stay off until the user presses the button, for this message only.
 */
export function MessageFrame({
  html,
  language,
  title,
  blockedNotice,
  loadImagesLabel
}: MessageFrameProps): JSX.Element {
  const [remoteImages, setRemoteImages] = useState(false)
  const document = useMemo(() => frameDocument(html, remoteImages, language), [html, remoteImages, language])
  return (
    <>
      {document.blockedImages > 0 && !remoteImages ? (
        <p className="notice">
          {blockedNotice(document.blockedImages)}{" "}
          <button type="button" className="secondary" onClick={() => setRemoteImages(true)}>
            {loadImagesLabel}
          </button>
        </p>
      ) : null}
      <iframe
        className="message-frame"
        title={title}
        sandbox={FRAME_SANDBOX}
        srcDoc={document.srcdoc}
        referrerPolicy="no-referrer"
        data-testid="message-frame"
      />
    </>
  )
}
