import { defineStrings } from "../i18n/index.ts"

export const signInStrings = defineStrings(
  "signIn",
  {
    title: "Sign in",
    email: "Email",
    password: "Password",
    submit: "Sign in",
    submitting: "Signing in…",
    failed: "Sign-in failed.",
    noAccount: "No account yet?",
    register: "Register",
    signedOut: "You are signed out."
  },
  {
    title: "Anmelden",
    email: "E-Mail",
    password: "Passwort",
    submit: "Anmelden",
    submitting: "Anmeldung läuft…",
    failed: "Anmeldung fehlgeschlagen.",
    noAccount: "Noch kein Konto?",
    register: "Registrieren",
    signedOut: "Sie sind abgemeldet."
  }
)
