// Secrets given as files (`<NAME>_FILE`, the Docker and Swarm secrets convention):
// which files to read, and the environment with what they hold filled in. Pure: the
// Settings layer reads the files and hands over what each read gave; this decides
// what is a problem, and decodeSettings checks a value from a file exactly as the
// variable's own. A problem never holds a file's content, nor a path EnvProblems
// would not show.
import { Result } from "effect"
import { type Problem, subject } from "./EnvProblems.ts"

/** A secret that may come from a file, as the variables table derives it. */
export interface SecretFile {
  readonly secret: string
  /** `<secret>_FILE`. */
  readonly file: string
  /** A larger file is refused unread. */
  readonly maxBytes: number
  /** What the file variable expects, for messages. */
  readonly expects: string
}

export interface FileToRead {
  readonly file: string
  readonly path: string
  readonly maxBytes: number
}

/** What reading one file gave: its text, or why it is unusable, naming neither its path nor its content. */
export type FileRead = Result.Result<string, string>

export interface ResolvedSecrets {
  /** The values given, without the file variables, each secret read from a file filled in. */
  readonly env: Readonly<Record<string, string>>
  /** Secret → the file variable its value came from: a flaw in the value is reported under that name. */
  readonly fromFile: ReadonlyMap<string, string>
  /** Secrets given but unusable (set twice, or a file that could not be used): already reported, so no rule reads them. */
  readonly unusable: ReadonlySet<string>
  /** One per file variable that could not be used, naming it. */
  readonly problems: ReadonlyArray<Problem>
}

/** `echo` and `printf '%s\n'` end the file with a line break that is no part of the value. */
const trailingLineBreaks = /(?:\r?\n)+$/

/**
 * The files to read, given the values set (empty ones dropped): none for a secret
 * that is also set directly, as that is refused whatever the file holds.
 */
export const filesToRead = (given: Readonly<Record<string, string>>, secrets: ReadonlyArray<SecretFile>): ReadonlyArray<FileToRead> =>
  secrets.flatMap(({ secret, file, maxBytes }) => {
    const path = given[file]
    return path === undefined || given[secret] !== undefined ? [] : [{ file, path, maxBytes }]
  })

/** `given` with each secret's file resolved through `reads`; a file missing from `reads` was not read, and is refused. */
export const resolveSecretFiles = (
  given: Readonly<Record<string, string>>,
  secrets: ReadonlyArray<SecretFile>,
  reads: ReadonlyMap<string, FileRead>
): ResolvedSecrets => {
  const fileNames = new Set(secrets.map((s) => s.file))
  const env: Record<string, string> = Object.fromEntries(Object.entries(given).filter(([name]) => !fileNames.has(name)))
  const fromFile = new Map<string, string>()
  const unusable = new Set<string>()
  const problems: Array<Problem> = []
  for (const { secret, file, expects } of secrets) {
    const path = given[file]
    if (path === undefined) continue
    const refuse = (message: string) => {
      unusable.add(secret)
      problems.push({ variable: file, message })
    }
    if (given[secret] !== undefined) {
      refuse(`${secret} and ${file} are both set: expected only one of them`)
      continue
    }
    const read = reads.get(file) ?? Result.fail("was not read")
    if (Result.isFailure(read)) {
      refuse(`${subject(file, path, false)}: ${read.failure}, expected ${expects}`)
      continue
    }
    const value = read.success.replace(trailingLineBreaks, "")
    // An empty file is a mistake, not "unset": a blank REDIS_PASSWORD would mean no password.
    if (value === "") {
      refuse(`${subject(file, path, false)}: the file is empty, expected ${expects}`)
      continue
    }
    env[secret] = value
    fromFile.set(secret, file)
  }
  return { env, fromFile, unusable, problems }
}
