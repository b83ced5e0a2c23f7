// `manage config --docs`: generated from the same table the environment is decoded
// with, so every variable is documented, secrets are marked, and the markdown holds.
import { assert, describe, it } from "@effect/vitest"
import { renderSettingsDocs } from "../../../src/domain/SettingsDocs.ts"
import { variables } from "../../../src/domain/Settings.ts"

const docs = renderSettingsDocs()
const rowOf = (name: string): string => docs.split("\n").find((l) => l.startsWith(`| \`${name}\``)) ?? assert.fail(`${name} is not documented`)

describe("renderSettingsDocs", () => {
  it("has one row for every variable in the table", () => {
    for (const name of Object.keys(variables)) rowOf(name)
    assert.strictEqual(docs.split("\n").filter((l) => /^\| `[A-Z_]+`/.test(l)).length, Object.keys(variables).length)
  })

  it("marks exactly the secrets as secret", () => {
    const marked = docs.split("\n").filter((l) => l.includes("(secret)")).map((l) => /^\| `([A-Z_]+)`/.exec(l)?.[1])
    assert.sameMembers(marked, ["REDIS_PASSWORD", "REDIS_PASSWORD_ACCEPTED", "REDIS_APP_PASSWORD", "REDIS_APP_PASSWORD_ACCEPTED", "MANTA_PRIVATE_KEY", "CONSUL_HTTP_TOKEN"])
  })

  it("shows literal defaults, derived defaults, and 'unset'", () => {
    assert.include(rowOf("REDIS_PORT"), "| `6379` |")
    assert.include(rowOf("SENTINEL_DOWN_AFTER"), "| `5s` |")
    assert.include(rowOf("ANNOUNCE_IP"), "CONTAINERPILOT_<SERVICE_NAME>_IP")
    assert.include(rowOf("REDIS_PASSWORD"), "| unset |")
  })

  it("every row is a well-formed four-cell markdown row", () => {
    for (const name of Object.keys(variables)) {
      const cells = rowOf(name).replaceAll("\\|", "").split("|").slice(1, -1)
      assert.lengthOf(cells, 4, name)
    }
  })

  it("groups variables under headings and says empty values count as unset", () => {
    for (const group of ["Node", "Consul", "Redis", "Sentinel", "Handlers", "Backups", "Manta"]) assert.include(docs, `### ${group}`)
    assert.include(docs, "Empty values count as unset")
  })
})
