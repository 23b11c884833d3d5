import i18next, { type TOptions } from "i18next"
import { initReactI18next, useTranslation } from "react-i18next"

export const languages = ["en", "de"] as const
export type Language = (typeof languages)[number]

const storageKey = "mail-helper.language"

const isLanguage = (value: string): value is Language => value === "en" || value === "de"

/** The stored choice, else the browser's first preferred language we speak, else English. */
export const initialLanguage = (): Language => {
  const stored = window.localStorage.getItem(storageKey)
  if (stored !== null && isLanguage(stored)) return stored
  for (const tag of window.navigator.languages) {
    const base = tag.toLowerCase().split("-")[0] ?? ""
    if (isLanguage(base)) return base
  }
  return "en"
}

export const i18n = i18next.createInstance()

export const initI18n = (): Promise<unknown> =>
  i18n.use(initReactI18next).init({
    lng: initialLanguage(),
    fallbackLng: "en",
    supportedLngs: languages,
    // React escapes what it renders; i18next escaping again would show &amp; etc.
    interpolation: { escapeValue: false },
    resources: {}
  })

export const setLanguage = (language: Language): void => {
  window.localStorage.setItem(storageKey, language)
  void i18n.changeLanguage(language)
}

/** Keeps `<html lang>` right for screen readers and hyphenation. */
i18n.on("languageChanged", (language) => {
  document.documentElement.lang = language
})

export type Dictionary = Readonly<Record<string, string>>

/**
 * One page's strings: English is the reference, German must have every key. Each page keeps its own
 * dictionary next to it (`<page>.i18n.ts`), so pages are edited without touching a shared file.
 */
export interface Strings<D extends Dictionary> {
  readonly namespace: string
  readonly en: D
  readonly de: { readonly [K in keyof D]: string }
}

export const defineStrings = <D extends Dictionary>(
  namespace: string,
  en: D,
  de: { readonly [K in keyof D]: string }
): Strings<D> => ({ namespace, en, de })

export type Translate<D extends Dictionary> = (
  key: keyof D & string,
  values?: Readonly<Record<string, string | number>>
) => string

/** The page's translate function; `{{name}}` placeholders are filled from `values`. */
export const useStrings = <D extends Dictionary>(strings: Strings<D>): Translate<D> => {
  if (!i18n.hasResourceBundle("en", strings.namespace)) {
    i18n.addResourceBundle("en", strings.namespace, strings.en)
    i18n.addResourceBundle("de", strings.namespace, strings.de)
  }
  const { t } = useTranslation(strings.namespace, { i18n })
  return (key, values) => {
    const name: string = key
    const options: TOptions = values === undefined ? {} : { ...values }
    return t(name, options)
  }
}

/** The active language, for Intl formatting (dates and numbers in the user's locale). */
export const useLanguage = (): Language => {
  const { i18n: instance } = useTranslation(undefined, { i18n })
  const current = instance.resolvedLanguage ?? instance.language
  return isLanguage(current) ? current : "en"
}

/**
 * One formatter per language and kind: building an Intl formatter loads locale data and costs far more
 * than formatting (the inbox formats a date per row; a new DateTimeFormat per row was a measurable part
 * of its first render, bench/webapp.ts).
 */
const dateTimeFormats = new Map<Language, Intl.DateTimeFormat>()
const numberFormats = new Map<Language, Intl.NumberFormat>()

export const formatDateTime = (language: Language, date: Date): string => {
  let format = dateTimeFormats.get(language)
  if (format === undefined) {
    format = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" })
    dateTimeFormats.set(language, format)
  }
  return format.format(date)
}

export const formatNumber = (language: Language, value: number): string => {
  let format = numberFormats.get(language)
  if (format === undefined) {
    format = new Intl.NumberFormat(language)
    numberFormats.set(language, format)
  }
  return format.format(value)
}
