// The `manta` client (through restify-clients' HttpClient constructor) calls Node's
// legacy url.parse() on every client it creates, and Node 24 prints DEP0169 for it on
// stderr at every Manta run (the bundle is not under node_modules, where Node would
// stay quiet). That call is not ours to change, so exactly that warning code is
// dropped; every other warning still prints.

const code = "DEP0169"

const isUrlParseDeprecation = (warning: string | Error, rest: ReadonlyArray<unknown>): boolean => {
  if (warning instanceof Error) return "code" in warning && warning.code === code
  const [typeOrOptions, legacyCode] = rest
  if (legacyCode === code) return true
  return typeof typeOrOptions === "object" && typeOrOptions !== null && "code" in typeOrOptions && typeOrOptions.code === code
}

let installed = false

/** Idempotent: the filter wraps process.emitWarning once per process. */
export const silenceUrlParseDeprecation = (): void => {
  if (installed) return
  installed = true
  const emit = process.emitWarning.bind(process)
  process.emitWarning = (warning: string | Error, ...rest: Array<unknown>): void => {
    if (!isUrlParseDeprecation(warning, rest)) Reflect.apply(emit, process, [warning, ...rest])
  }
}
