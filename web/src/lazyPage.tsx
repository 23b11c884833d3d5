import { type ComponentType, type JSX, use, useEffect } from "react"
import { whenCallsSettle } from "./api/client.ts"

/**
 * A page kept in its own chunk that does not suspend once its chunk is loaded.
 *
 * Why not `React.lazy`: React 19 holds a Suspense fallback on screen for at least ~300 ms once it
 * has shown, and a lazy component suspends on its first render even when it could be ready a few
 * milliseconds later, so every first visit of a page waited ~850 ms (bench/webapp.ts). Here the
 * resolved module is kept and rendered directly; only a page whose chunk is not loaded yet
 * suspends (with `use`). After the first page has been shown, every other page's chunk is fetched
 * while the browser is idle, so later page changes render at once. The first screen still
 * downloads the shell and one page only.
 */
export interface LazyPage {
  /** The page's component once its chunk has loaded. */
  readonly loaded: () => ComponentType | undefined
  /** Starts loading the chunk (once); a failed load is retried by the next call. */
  readonly preload: () => Promise<ComponentType>
}

const pages: Array<LazyPage> = []
let preloadScheduled = false

const whenIdle = (callback: () => void): void => {
  if (typeof window.requestIdleCallback === "function") window.requestIdleCallback(callback, { timeout: 2000 })
  else window.setTimeout(callback, 200)
}

/**
 * Loads every page chunk when the browser is idle; called once, after the first page is on screen.
 * The page is idle while it waits for its data, so the chunks wait for its calls to answer too:
 * their evaluation would otherwise delay the first rows (bench/webapp.ts).
 */
const preloadEveryPageWhenIdle = (): void => {
  if (preloadScheduled) return
  preloadScheduled = true
  const preloadAll = () => {
    for (const page of pages) {
      // a chunk that fails now is loaded (and its error shown) when its page is opened
      page.preload().catch(() => undefined)
    }
  }
  whenIdle(() => whenCallsSettle(() => whenIdle(preloadAll)))
}

export const lazyPage = (load: () => Promise<ComponentType>): LazyPage => {
  let loaded: ComponentType | undefined
  let loading: Promise<ComponentType> | undefined
  const preload = (): Promise<ComponentType> => {
    loading ??= load().then(
      (component) => {
        loaded = component
        return component
      },
      (error: unknown) => {
        loading = undefined
        throw error
      }
    )
    return loading
  }
  const page: LazyPage = { loaded: () => loaded, preload }
  pages.push(page)
  return page
}

/** Renders a lazy page: directly when its chunk is loaded, else suspends until it is. */
export function PageView({ page }: { readonly page: LazyPage }): JSX.Element {
  // `use` suspends on the page's one loading promise until it settles
  const Component = page.loaded() ?? use(page.preload())
  useEffect(preloadEveryPageWhenIdle, [])
  return <Component />
}
