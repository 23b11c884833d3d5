/** Dovecot settings for the real-time benches (bench/realtime.ts, bench/realtime-memory.ts). */

/**
 * Limits for `accounts` long-lived sessions (plus the syncs' and the bench's own). The defaults (100
 * imap processes of one session each, default_process_limit) stall at about 100 sessions; and one
 * imap process per session would take an inotify instance each (128 per uid, shared with the other
 * Dovecots on this machine), beyond which Dovecot falls back to polling every
 * mailbox_idle_check_interval. So: at most 24 imap processes, each serving many sessions (imap's
 * default service_count = 1 ends a process after one session, which would cap the sessions at 24).
 */
export const dovecotLimits = (accounts: number): string => {
  const imapProcesses = 24
  const perProcess = Math.ceil((accounts * 2 + 200) / imapProcesses)
  const clients = imapProcesses * perProcess + 1000
  return `
default_client_limit = ${clients}
service imap {
  service_count = 0
  process_limit = ${imapProcesses}
  client_limit = ${perProcess}
}
service imap-login {
  service_count = 0
  process_min_avail = 2
  process_limit = 8
  client_limit = ${clients}
}
service auth {
  client_limit = ${clients}
}
service anvil {
  client_limit = ${clients}
}
`
}
