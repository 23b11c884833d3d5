// Health probe for containers (Dockerfile HEALTHCHECK) and process supervisors.
// Exits 0 when the URL answers 2xx within the timeout, 1 otherwise.
//   HEALTHCHECK_URL         default http://127.0.0.1:$PORT/health/live (PORT defaults to 3000)
//   HEALTHCHECK_TIMEOUT_MS  default 4000
// Plain JavaScript with no dependencies, so it runs with any Node >= 18.
const port = process.env.PORT || "3000"
const url = process.env.HEALTHCHECK_URL || `http://127.0.0.1:${port}/health/live`
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS || "4000")

try {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" })
  await response.body?.cancel()
  if (response.ok) {
    process.exitCode = 0
  } else {
    console.error(`unhealthy: ${url} answered ${response.status}`)
    process.exitCode = 1
  }
} catch (error) {
  console.error(`unhealthy: ${url}: ${error instanceof Error ? error.message : String(error)}`)
  process.exitCode = 1
}
