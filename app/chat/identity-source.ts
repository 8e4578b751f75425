// Server side of the identity check: the held-out questions (written by us, not in the dataset) and,
// per run, the name/author its identity dataset was filled with, recovered from the data files.
import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { readDataset } from "@/lib/datasets/registry";
import { templatesDir } from "@/lib/datasets/seed";
import { inferIdentity } from "@/components/chat/identity";

const heldoutFile = z.array(z.string().min(1)).min(1).max(100);

export async function heldOutQuestions(dataDir: string, root: string): Promise<string[]> {
  for (const file of [path.join(dataDir, "identity_heldout.json"), path.join(templatesDir(root), "identity_heldout.json")]) {
    try {
      // Runtime paths (the data folder is configured): nothing for the bundler to trace.
      return heldoutFile.parse(JSON.parse(await fs.readFile(/*turbopackIgnore: true*/ file, "utf8")));
    } catch {
      // missing or malformed here: try the copy shipped with the app
    }
  }
  return [];
}

/**
 * The distinct answers of the identity template, placeholders kept: filled with the name and author typed in
 * the Identity check, their words are the vocabulary a clean answer keeps to (lib/chat/clean-answer.ts).
 */
export async function identityAnswerTemplates(dataDir: string): Promise<string[]> {
  try {
    return [...new Set((await readDataset(dataDir, "identity")).map((r) => r.output))];
  } catch {
    return []; // no identity template in the data folder: every answer counts as not clean
  }
}

/** name/author of the first identity-style dataset among `datasets` (comma-separated), else null. */
export async function identityOfRun(dataDir: string, datasets: string): Promise<{ name: string; author: string } | null> {
  let template: string[];
  try {
    template = (await readDataset(dataDir, "identity")).map((r) => r.output);
  } catch {
    return null;
  }
  for (const name of datasets.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (name === "identity") continue;
    try {
      const found = inferIdentity(template, (await readDataset(dataDir, name)).map((r) => r.output));
      if (found) return found;
    } catch {
      // not readable as alpaca: not an identity dataset
    }
  }
  return null;
}
