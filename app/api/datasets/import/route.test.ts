// The upload route (app/api/datasets/import/route.ts) called with real Requests: the size limit is
// enforced on the bytes read, whatever Content-Length claims, and a good file is staged.
import { readdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IMPORT_DIR, IMPORT_MAX_BYTES } from "@/lib/datasets/import";
import { createTempData, type TempData } from "@/lib/test-support/temp-data";

let tmp: TempData;
let POST: (req: Request) => Promise<Response>;
const saved = process.env.TUNEBOARD_DATA_DIR;
beforeAll(async () => {
  tmp = await createTempData();
  process.env.TUNEBOARD_DATA_DIR = tmp.dataDir; // read by env() on first use, below
  ({ POST } = await import("./route"));
});
afterAll(async () => {
  if (saved === undefined) delete process.env.TUNEBOARD_DATA_DIR;
  else process.env.TUNEBOARD_DATA_DIR = saved;
  await tmp.cleanup();
});

const upload = (name: string, bytes: Uint8Array, headers: Record<string, string> = {}) => {
  const form = new FormData();
  form.set("file", new File([bytes as BlobPart], name));
  const req = new Request("http://localhost/api/datasets/import", { method: "POST", body: form });
  // Re-wrap so a test can lie about Content-Length (a client may).
  return new Request(req, { headers: { "content-type": req.headers.get("content-type")!, ...headers }, duplex: "half" } as RequestInit);
};

describe("POST /api/datasets/import", () => {
  it("stages a CSV and answers its columns and sample", async () => {
    const res = await POST(upload("faq.csv", new TextEncoder().encode("q,a\nHi,Hello\n")));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, fileName: "faq.csv", count: 1, columns: ["q", "a"], sample: [{ q: "Hi", a: "Hello" }] });
    expect(await readdir(path.join(tmp.dataDir, IMPORT_DIR))).toHaveLength(1);
  });

  it("refuses an oversize body with 413 even when Content-Length is missing or understated", async () => {
    const big = new Uint8Array(IMPORT_MAX_BYTES + 128 * 1024);
    for (const headers of [{}, { "content-length": "10" }] as Record<string, string>[]) {
      const res = await POST(upload("big.json", big, headers));
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ ok: false, field: "file" });
    }
    expect(await readdir(path.join(tmp.dataDir, IMPORT_DIR))).toHaveLength(1); // only the CSV above
  });

  it("names a file it cannot read", async () => {
    const res = await POST(upload("notes.txt", new TextEncoder().encode("hello")));
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ ok: false, field: "file", message: "notes.txt: only .json, .jsonl and .csv files can be imported" });
  });

  it("answers in the UI's language, read from the request's own cookie", async () => {
    const empty = upload("empty.json", new Uint8Array(), { cookie: "other=1; tb_locale=zh" });
    const res = await POST(empty);
    expect(res.status).toBe(422);
    const body = (await res.json()) as { field: string; message: string };
    expect(body.field).toBe("file");
    expect(body.message).not.toBe("choose a non-empty .json, .jsonl or .csv file");
    expect(body.message).toMatch(/[\u4e00-\u9fff]/); // Chinese
  });
});
