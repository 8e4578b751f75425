"use server";
import { revalidatePath } from "next/cache";
import { env } from "@/lib/env";
import { fillIdentity } from "@/lib/datasets/identity";
import { isDatasetError } from "@/lib/datasets/errors";

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
    if (isDatasetError(err)) return { fieldErrors: { [err.field]: err.message }, values };
    throw err;
  }
}
