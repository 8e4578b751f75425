// Saving a conversation record edited turn by turn. Same guarantees as edit.ts (data folder lock,
// stale-edit check, atomic rewrite in the file's own format), plus the turn rule of turns.ts
// checked again here with zod whatever the browser did, a refusal naming the turn
// (field "turns.<i>") so the editor marks it. The record is rebuilt from the stored one, so keys
// the editor does not show are kept.
import { z } from "zod";
import { recordIndexSchema } from "../schemas/dataset";
import { checkRecord, checkUnchanged, open, save, type Target } from "./edit";
import { DatasetError } from "./errors";
import { withRegistryLock } from "./lock";
import { conversationLayout, turnsDocInputSchema, turnsDocSchema, turnsToRecord, type ConversationLayout, type TurnsDoc } from "./turns";

export const conversationEditSchema = z.object({
  dataset: z.string().min(1, "choose a dataset"),
  index: recordIndexSchema,
  /** The record as the editor loaded it (JSON text): a save over a record changed since is refused. */
  expected: z.string().max(2_000_000),
  doc: turnsDocInputSchema,
});

export const conversationAddSchema = z.object({
  dataset: z.string().min(1, "choose a dataset"),
  doc: turnsDocInputSchema,
});

/** zod's first issue as a DatasetError at the turn it is about ("turns.3"), or at the record. */
function inputError(error: z.ZodError, index: number | undefined): DatasetError {
  const issue = error.issues[0];
  const path = issue?.path ?? [];
  const turnAt = path.indexOf("turns");
  const turn = turnAt >= 0 && typeof path[turnAt + 1] === "number" ? (path[turnAt + 1] as number) : null;
  const field = turnAt >= 0 ? (turn === null ? "turns" : `turns.${turn}`) : "record";
  const where = [index === undefined ? null : `record ${index}`, turn === null ? null : `turn ${turn + 1}`].filter(Boolean).join(": ");
  return new DatasetError(index === undefined ? "invalid_input" : "invalid_record", field, `${where ? `${where}: ` : ""}${issue?.message ?? "invalid"}`, {
    ...(index === undefined ? {} : { recordIndex: index }),
  });
}

function layoutOf(target: Target, dataset: string): ConversationLayout {
  const cl = conversationLayout(target.layout);
  if (cl === null) throw new DatasetError("unsupported", "record", `dataset "${dataset}" is not a conversation dataset; edit its records field by field`);
  // A CSV cell holds the messages as JSON text, which the turn editor does not rewrite.
  if (target.file.toLowerCase().endsWith(".csv")) throw new DatasetError("unsupported", "record", `dataset "${dataset}" is a CSV file; edit its records as JSON`);
  return cl;
}

/** The turns under the dataset's rule, then the rebuilt record under the registry's own check. */
function build(target: Target, cl: ConversationLayout, doc: TurnsDoc, index: number, original: unknown, dataset: string) {
  const checked = turnsDocSchema(cl).safeParse(doc);
  if (!checked.success) throw inputError(checked.error, index);
  const record = turnsToRecord(original, checked.data, cl);
  checkRecord(record, index, target.layout, dataset);
  return record;
}

export async function updateConversation(dataDir: string, input: unknown): Promise<{ index: number }> {
  const parsed = conversationEditSchema.safeParse(input);
  if (!parsed.success) throw inputError(parsed.error, undefined);
  const { dataset, index, expected, doc } = parsed.data;
  return withRegistryLock(dataDir, async () => {
    const target = await open(dataDir, dataset);
    const cl = layoutOf(target, dataset);
    checkUnchanged(target, index, expected);
    const records = [...target.raw];
    records[index] = build(target, cl, doc, index, target.raw[index], dataset);
    await save(target, records);
    return { index };
  });
}

export async function addConversation(dataDir: string, input: unknown): Promise<{ index: number }> {
  const parsed = conversationAddSchema.safeParse(input);
  if (!parsed.success) throw inputError(parsed.error, undefined);
  const { dataset, doc } = parsed.data;
  return withRegistryLock(dataDir, async () => {
    const target = await open(dataDir, dataset);
    const cl = layoutOf(target, dataset);
    const index = target.raw.length;
    // A new record has no stored messages: any `source` the browser sent points at nothing.
    const fresh = { ...doc, turns: doc.turns.map((t) => ({ ...t, source: null })) };
    await save(target, [...target.raw, build(target, cl, fresh, index, null, dataset)]);
    return { index };
  });
}
