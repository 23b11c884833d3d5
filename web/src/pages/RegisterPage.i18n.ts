import { defineStrings } from "../i18n/index.ts"

export const registerStrings = defineStrings(
  "register",
  {
    title: "Register",
    email: "Email",
    password: "Password",
    passwordHint: "At least 10 characters; a few unrelated words are strong and easy to remember.",
    inviteCode: "Invite code",
    inviteHint: "Only needed when this server registers by invitation; an administrator gives you the code.",
    submit: "Create account",
    submitting: "Creating…",
    wrongOrigin:
      "The server does not know this address. Its operator sets PUBLIC_ORIGIN to {{origin}} (or opens the app at the address PUBLIC_ORIGIN names).",
    failed: "Registration failed.",
    haveAccount: "Already registered?",
    signIn: "Sign in"
  },
  {
    title: "Registrieren",
    email: "E-Mail",
    password: "Passwort",
    passwordHint: "Mindestens 10 Zeichen; einige unzusammenhängende Wörter sind stark und leicht zu merken.",
    inviteCode: "Einladungscode",
    inviteHint: "Nur nötig, wenn dieser Server nur mit Einladung registriert; den Code gibt Ihnen ein Administrator.",
    submit: "Konto anlegen",
    submitting: "Wird angelegt…",
    wrongOrigin:
      "Der Server kennt diese Adresse nicht. Sein Betreiber setzt PUBLIC_ORIGIN auf {{origin}} (oder öffnet die App unter der Adresse aus PUBLIC_ORIGIN).",
    failed: "Registrierung fehlgeschlagen.",
    haveAccount: "Schon registriert?",
    signIn: "Anmelden"
  }
)
