import { defineStrings } from "../i18n/index.ts"

export const signInStrings = defineStrings(
  "signIn",
  {
    title: "Sign in",
    email: "Email",
    password: "Password",
    submit: "Sign in",
    submitting: "Signing in…",
    wrongOrigin:
      "The server does not know this address. Its operator sets PUBLIC_ORIGIN to {{origin}} (or opens the app at the address PUBLIC_ORIGIN names).",
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
    wrongOrigin:
      "Der Server kennt diese Adresse nicht. Sein Betreiber setzt PUBLIC_ORIGIN auf {{origin}} (oder öffnet die App unter der Adresse aus PUBLIC_ORIGIN).",
    failed: "Anmeldung fehlgeschlagen.",
    noAccount: "Noch kein Konto?",
    register: "Registrieren",
    signedOut: "Sie sind abgemeldet."
  }
)
