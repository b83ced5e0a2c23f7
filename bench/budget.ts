// Budget verdicts shared by the benches: each figure is printed with its budget, and a
// bench whose figure is over exits 1 (after its cleanup), so a regression cannot pass
// as a printed OVER in a log nobody reads.
const over: Array<string> = []

/** "within" or "OVER" for a figure whose budget is an upper bound; remembers an OVER. */
export const verdict = (label: string, value: number, budget: number, inclusive = true): string => {
  const within = inclusive ? value <= budget : value < budget
  if (!within) over.push(`${label}: ${value.toFixed(2)} over its budget ${budget}`)
  return within ? "within" : "OVER"
}

/** Sets exit code 1 and names every figure over budget; call once, at the end. */
export const exitIfOver = (): void => {
  if (over.length === 0) return
  console.error(`over budget:\n  ${over.join("\n  ")}`)
  process.exitCode = 1
}
