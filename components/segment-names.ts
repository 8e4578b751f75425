// Route segments name themselves ("runs", "chat", …) to Loading and SegmentError; this maps
// that name to its translated phrase, or null for a name without one (generic text is shown).
const KNOWN = new Set(["train", "runs", "run", "compare", "datasets", "dataset", "chat", "evaluate", "workers", "home", "settings"]);

export function whatKey(what: string): string | null {
  return KNOWN.has(what) ? `common.what.${what}` : null;
}
