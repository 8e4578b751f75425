"use server";
import { revalidatePath } from "next/cache";
import { env } from "@/lib/env";
import { fillIdentity } from "@/lib/datasets/identity";
import { isDatasetError } from "@/lib/datasets/errors";
import { addRecord, deleteRecord, updateRecord } from "@/lib/datasets/edit";
import { addConversation, updateConversation } from "@/lib/datasets/conversation-edit";
import { commitImport, type ImportResult } from "@/lib/datasets/import";
import { renderRecord } from "@/lib/datasets/render";
import type { RenderResult } from "@/lib/schemas/dataset";
import { getLocale } from "@/lib/i18n/server";
import { translateMessage } from "@/lib/i18n/validation";

export interface IdentityFormState {
  fieldErrors: Partial<Record<"sourceName" | "name" | "author" | "newName", string>>;
  created?: { name: string; fileName: string; records: number };
  values?: Record<string, string>;
}

export async function fillIdentityAction(_prev: IdentityFormState, form: FormData): Promise<IdentityFormState> {
  const values = {
    sourceName: String(form.get("sourceName") ?? ""),
    name: String(form.get("name") ?? ""),
    author: String(form.get("author") ?? ""),
    newName: String(form.get("newName") ?? ""),
  };
  try {
    const created = await fillIdentity(env().dataDir, values);
    revalidatePath("/datasets");
    revalidatePath("/train");
    return { fieldErrors: {}, created, values };
  } catch (err) {
    if (isDatasetError(err)) return { fieldErrors: { [err.field]: translateMessage(err.message, await getLocale()) }, values };
    throw err;
  }
}

/** What every datasets action answers: a value, or the field (and record) a refusal is about. */
export type ActionResult<T> = { ok: true; value: T } | { ok: false; field: string; message: string; recordIndex?: number };

// Each action's input is parsed with zod inside lib/datasets (the browser's object is untrusted);
// a DatasetError becomes a message at its field (in the UI's language), anything else is a real
// fault and is thrown.
async function attempt<T>(fn: () => Promise<T>): Promise<ActionResult<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (!isDatasetError(err)) throw err;
    return { ok: false, field: err.field, message: translateMessage(err.message, await getLocale()), ...(err.recordIndex === undefined ? {} : { recordIndex: err.recordIndex }) };
  }
}

function changed() {
  revalidatePath("/datasets");
  revalidatePath("/train");
}

export async function updateRecordAction(input: unknown): Promise<ActionResult<{ index: number }>> {
  const r = await attempt(() => updateRecord(env().dataDir, input));
  if (r.ok) changed();
  return r;
}

export async function addRecordAction(input: unknown): Promise<ActionResult<{ index: number }>> {
  const r = await attempt(() => addRecord(env().dataDir, input));
  if (r.ok) changed();
  return r;
}

/** A conversation record edited turn by turn; a refusal names the turn ("turns.<i>"). */
export async function updateConversationAction(input: unknown): Promise<ActionResult<{ index: number }>> {
  const r = await attempt(() => updateConversation(env().dataDir, input));
  if (r.ok) changed();
  return r;
}

export async function addConversationAction(input: unknown): Promise<ActionResult<{ index: number }>> {
  const r = await attempt(() => addConversation(env().dataDir, input));
  if (r.ok) changed();
  return r;
}

export async function deleteRecordAction(input: unknown): Promise<ActionResult<{ remaining: number }>> {
  const r = await attempt(() => deleteRecord(env().dataDir, input));
  if (r.ok) changed();
  return r;
}

export async function commitImportAction(input: unknown): Promise<ActionResult<ImportResult>> {
  const r = await attempt(() => commitImport(env().dataDir, input));
  if (r.ok) changed();
  return r;
}

export async function renderRecordAction(input: unknown): Promise<ActionResult<RenderResult>> {
  const e = env();
  return attempt(() => renderRecord({ dataDir: e.dataDir, modelRoots: e.modelRoots, python: e.python, root: e.root }, input));
}
