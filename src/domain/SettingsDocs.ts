// `manage config --docs`: the environment reference, generated from the same table
// the Schema decodes with, so the README cannot drift from the code.
import { type Group, type VariableDoc, variables } from "./Settings.ts"

const groups: ReadonlyArray<Group> = ["Node", "Consul", "Redis", "Sentinel", "Handlers", "Backups", "Manta"]

const cell = (text: string): string => text.replaceAll("|", "\\|")

const defaultOf = (v: VariableDoc): string =>
  v.default !== undefined ? `\`${v.default}\`` : v.derivedDefault !== undefined ? v.derivedDefault : "unset"

export const renderSettingsDocs = (): string => {
  const entries: ReadonlyArray<readonly [string, VariableDoc]> = Object.entries(variables)
  const sections = groups.map((group) => {
    const rows = entries
      .filter(([, v]) => v.group === group)
      .map(([name, v]) => `| \`${name}\`${v.secret === true ? " (secret)" : ""} | ${cell(defaultOf(v))} | ${cell(v.expects)} | ${cell(v.doc)} |`)
    return [`### ${group}`, "", "| variable | default | expects | meaning |", "|---|---|---|---|", ...rows].join("\n")
  })
  return [
    "Empty values count as unset. Secrets are never printed, not even in error messages.",
    "",
    ...sections.flatMap((s) => [s, ""])
  ].join("\n")
}
