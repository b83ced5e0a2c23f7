// The README's configuration reference is what `manage config --docs` prints, so the
// operator's documentation cannot drift from the Schema the handlers decode with.
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"

describe("README", () => {
  it("holds exactly the output of `manage config --docs` (refresh with `npm run docs`)", () => {
    const printed = execFileSync(process.execPath, ["src/main.ts", "config", "--docs"], { encoding: "utf8", env: {} })
    const readme = readFileSync("README.md", "utf8")
    const section = readme.split("<!-- config-docs:start -->\n")[1]?.split("\n<!-- config-docs:end -->")[0]
    expect(section).toBe(printed.replace(/\n$/, ""))
    expect(printed).toMatch(/`REDIS_PASSWORD` \(secret\)/)
  })
})
