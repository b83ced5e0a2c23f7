// `manage setup-env --key <file> [--out _env]`: placeholder until the packaging work lands.
import { Effect } from "effect"
import { UsageError } from "./UsageError.ts"

export const setupEnv = (_key: string, _out: string) => Effect.fail(new UsageError({ detail: "setup-env: not implemented yet" }))
