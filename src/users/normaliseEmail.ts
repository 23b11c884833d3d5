/**
 * Trims and lower-cases: the one spelling of an email the system stores and compares. Its own module
 * so that code the worker loads (the import job) can use it without UserStore.ts, which loads the HTTP
 * contract's user modules (test/main/programImports.test.ts).
 */
export const normaliseEmail = (email: string): string => email.trim().toLowerCase()
