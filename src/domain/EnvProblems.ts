// How an invalid environment is reported: one problem per variable, naming it and
// what it expects, joined into one line. A value is quoted only when it is short and
// shaped like a number, an address or a duration, the shapes no password, token or
// key takes; anything else (words, names, paths, URLs, keys) is described, never
// shown, because any variable may hold a secret after a typo or a shifted line.

export interface Problem {
  readonly variable: string
  readonly message: string
}

/** Numbers, dotted quads, host:port digits and Go durations, up to the longest IPv4. */
const numberish = /^[+-]?[0-9][0-9.:]*(?:(?:ms|s|m|h)[0-9.:]*)*$/

/** Whether a value may appear in a message. `secret` variables never show theirs. */
export const isShowable = (raw: string, secret: boolean): boolean => !secret && raw.length <= 15 && numberish.test(raw)

/** Hints about a hidden value that help the operator find it, naming no part of it. */
const hints = (raw: string): ReadonlyArray<string> => [
  ...(/-----BEGIN [A-Z0-9 ]*PRIVATE KEY|PRIVATE KEY-----/.test(raw) ? ["looks like a private key"] : []),
  ...(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/\s]*@/.test(raw) ? ["holds credentials (user:password@)"] : []),
  ...(/^[+-]?0[0-9]/.test(raw) ? ["has a leading zero"] : [])
]

/** `NAME="value"` when showable, else `NAME (value not shown)`. */
export const subject = (name: string, raw: string | undefined, secret: boolean): string =>
  raw === undefined
    ? `${name} is not set`
    : isShowable(raw, secret)
    ? `${name}=${JSON.stringify(raw)}`
    : `${name} (${secret ? "secret, " : ""}value not shown)`

/** `NAME …: flaw, flaw, expected …`, with the flaws `textFlaws` found and any hints. */
export const invalidValue = (
  name: string,
  raw: string,
  options: { readonly secret: boolean; readonly flaws: ReadonlyArray<string>; readonly expects: string }
): Problem => ({
  variable: name,
  message: `${subject(name, raw, options.secret)}: ${[...options.flaws, ...hints(raw)].map((f) => `${f}, `).join("")}expected ${options.expects}`
})

/** Between problems; no message holds it (the variable table is tested for it, the rest is ours). */
export const problemSeparator = "; "

/**
 * One line naming every bad variable. A ';' inside a message would read as a
 * separator, so it is replaced, whatever a future message says.
 */
export const formatProblems = (problems: ReadonlyArray<Problem>): string =>
  `invalid environment: ${problems.map((p) => p.message.replaceAll(";", ",").replaceAll("\n", " ")).join(problemSeparator)}`
