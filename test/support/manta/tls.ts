// The test CA and the emulator's certificate for 127.0.0.1 (tls/generate.sh made
// them). A client trusts the emulator with `ca`, or a `manage` process with
// NODE_EXTRA_CA_CERTS=caFile, as an operator would for a Manta with a private CA.
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const file = (name: string): string => fileURLToPath(new URL(`./tls/${name}`, import.meta.url))

export const testTls = {
  /** The CA certificate's path. */
  caFile: file("ca.pem"),
  ca: readFileSync(file("ca.pem"), "utf8"),
  /** The emulator's `tls` option. */
  server: { key: readFileSync(file("server-key.pem"), "utf8"), cert: readFileSync(file("server.pem"), "utf8") }
} as const
