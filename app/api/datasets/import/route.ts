// Step one of an import: the browser posts the file (multipart, field "file"); the server keeps
// it in the staging folder and answers its columns and first records for the mapping step.
// The size limit is enforced here while the body streams in, not after it has all been read.
import { readBodyCapped } from "@/lib/http/read-capped";
import { NextResponse } from "next/server";
import { env } from "@/lib/env";
import { isDatasetError } from "@/lib/datasets/errors";
import { IMPORT_MAX_BYTES, stageUpload, tooLarge } from "@/lib/datasets/import";
import { localeOfRequest } from "@/lib/i18n/locales";
import { translateMessage } from "@/lib/i18n/validation";

export const dynamic = "force-dynamic";

// Room for the multipart boundaries and headers around the file itself.
const ENVELOPE = 64 * 1024;

// The Datasets page shows the message at the file field: in the UI's language (cookie tb_locale).
const refuse = (req: Request, status: number, field: string, message: string) =>
  NextResponse.json({ ok: false, field, message: translateMessage(message, localeOfRequest(req)) }, { status });

export async function POST(req: Request) {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > IMPORT_MAX_BYTES + ENVELOPE) return refuse(req, 413, "file", tooLarge(declared).message);
  const body = await readBodyCapped(req, IMPORT_MAX_BYTES + ENVELOPE);
  if (body === null) return refuse(req, 413, "file", tooLarge(IMPORT_MAX_BYTES + ENVELOPE).message);

  let form: FormData;
  try {
    form = await new Response(body as BodyInit, { headers: { "content-type": req.headers.get("content-type") ?? "" } }).formData();
  } catch {
    return refuse(req, 400, "file", "send the file as multipart/form-data in a field named \"file\"");
  }
  const file = form.get("file");
  if (!(file instanceof File) || file.size === 0) return refuse(req, 422, "file", "choose a non-empty .json, .jsonl or .csv file");
  try {
    const staged = await stageUpload(env().dataDir, file.name, new Uint8Array(await file.arrayBuffer()));
    return NextResponse.json({ ok: true, ...staged });
  } catch (err) {
    if (!isDatasetError(err)) throw err;
    return refuse(req, err.field === "file" && err.message.includes("limit") ? 413 : 422, err.field, err.message);
  }
}
