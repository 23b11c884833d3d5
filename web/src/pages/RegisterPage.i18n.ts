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
    failed: "Registrierung fehlgeschlagen.",
    haveAccount: "Schon registriert?",
    signIn: "Anmelden"
  }
)
