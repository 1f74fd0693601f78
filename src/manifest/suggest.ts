/** "Did you mean ...?" for unknown spec keys: the known key nearest by edit distance, if near enough. */

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
    }
    prev = cur;
  }
  return prev[b.length];
}

export function closestKey(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase().replaceAll("-", "_");
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    // A cut-short key ("guidance" for "guidance_scale") counts as a near miss.
    const d = candidate.startsWith(k) && k.length >= 3 ? 1 : editDistance(k, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // Near enough: two edits, or a third of the key's length for long keys ("negative_promt").
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** `unknown key "sed"; did you mean "seed"?` or the list of known keys. */
export function unknownKeyMessage(key: string, where: string, known: readonly string[]): string {
  const near = closestKey(key, known);
  const prefix = `unknown key "${key}"${where ? ` in ${where}` : ""}`;
  return near ? `${prefix}; did you mean "${near}"?` : `${prefix}; known keys: ${known.join(", ")}`;
}
