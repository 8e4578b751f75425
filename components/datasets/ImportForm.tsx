"use client";
// Import in three steps: upload (size-checked by the server), map the file's columns to alpaca,
// sharegpt, OpenAI messages, preference pairs, KTO or pre-training text with a live preview of the first mapped records (the same mapping
// code the server runs), then register under a unique name.
import { useRouter } from "next/navigation";
import { useMemo, useState, useTransition, type Dispatch, type ReactNode, type SetStateAction } from "react";
import { useT } from "@/lib/i18n/client";
import type { MessageKey } from "@/lib/i18n/translate";
import { applyMapping, guessMapping } from "@/lib/datasets/mapping";
import { IMPORT_FORMATS, uploadAnswerSchema, type ImportFormat, type ImportMapping } from "@/lib/schemas/dataset";
import { commitImportAction } from "@/app/datasets/actions";

type Staged = Extract<ReturnType<typeof uploadAnswerSchema.parse>, { ok: true }>;
type FieldErr = { field: string; message: string } | null;

const FORMAT_LABEL: Record<ImportFormat, MessageKey> = {
  alpaca: "datasets.import.format.alpaca",
  sharegpt: "datasets.import.format.sharegpt",
  openai: "datasets.import.format.openai",
  preference: "datasets.import.format.preference",
  kto: "datasets.import.format.kto",
  text: "datasets.import.format.text",
};

// Which mapping inputs each format has; "column" ones pick from the file's columns.
const FIELDS: Record<ImportFormat, { key: string; label: MessageKey; kind: "column" | "text"; optional?: boolean }[]> = {
  alpaca: [
    { key: "instruction", label: "datasets.import.map.instruction", kind: "column" },
    { key: "input", label: "datasets.import.map.input", kind: "column", optional: true },
    { key: "output", label: "datasets.import.map.output", kind: "column" },
    { key: "system", label: "datasets.import.map.system", kind: "column", optional: true },
    { key: "history", label: "datasets.import.map.history", kind: "column", optional: true },
  ],
  sharegpt: [
    { key: "messages", label: "datasets.import.map.messages", kind: "column" },
    { key: "roleKey", label: "datasets.import.map.roleKey", kind: "text" },
    { key: "contentKey", label: "datasets.import.map.contentKey", kind: "text" },
    { key: "userTag", label: "datasets.import.map.userTag", kind: "text" },
    { key: "assistantTag", label: "datasets.import.map.assistantTag", kind: "text" },
    { key: "systemTag", label: "datasets.import.map.systemTag", kind: "text", optional: true },
  ],
  openai: [{ key: "messages", label: "datasets.import.map.messages", kind: "column" }],
  preference: [
    { key: "instruction", label: "datasets.import.map.instruction", kind: "column" },
    { key: "input", label: "datasets.import.map.input", kind: "column", optional: true },
    { key: "chosen", label: "datasets.import.map.chosen", kind: "column" },
    { key: "rejected", label: "datasets.import.map.rejected", kind: "column" },
    { key: "system", label: "datasets.import.map.system", kind: "column", optional: true },
  ],
  kto: [
    { key: "instruction", label: "datasets.import.map.instruction", kind: "column" },
    { key: "input", label: "datasets.import.map.input", kind: "column", optional: true },
    { key: "output", label: "datasets.import.map.output", kind: "column" },
    { key: "ktoTag", label: "datasets.import.map.ktoTag", kind: "column" },
    { key: "system", label: "datasets.import.map.system", kind: "column", optional: true },
  ],
  text: [{ key: "text", label: "datasets.import.map.text", kind: "column" }],
};

const slug = (file: string) =>
  file
    .replace(/\.[^.]+$/, "")
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "_")
    .replace(/^[_-]+|_+$/g, "")
    .slice(0, 64);

/** The mapping inputs of the chosen format: a column of the file, or a key/tag typed in. */
function MappingFields(props: {
  staged: Staged;
  format: ImportFormat;
  mapping: Record<string, string>;
  setMapping: Dispatch<SetStateAction<Record<string, string>>>;
  errAt: (field: string) => ReactNode;
}) {
  const t = useT();
  const { staged, format, mapping, setMapping, errAt } = props;
  return (
    <div className="grid gap-3 sm:grid-cols-3">
      <div>
        <label className="field-label" htmlFor="import-format">
          {t("datasets.import.format")}
        </label>
        <select
          id="import-format"
          className="field-input"
          value={format}
          onChange={(e) => {
            const next = e.target.value as ImportFormat;
            const guess = guessMapping(staged.columns) as unknown as Record<string, string>;
            const defaults: Record<ImportFormat, Record<string, string>> = {
              alpaca: { instruction: staged.columns[0] ?? "", output: staged.columns[1] ?? "" },
              sharegpt: { messages: guess.messages ?? staged.columns[0] ?? "", roleKey: "from", contentKey: "value", userTag: "human", assistantTag: "gpt", systemTag: "system" },
              openai: { messages: guess.messages ?? staged.columns[0] ?? "" },
              preference: { instruction: staged.columns[0] ?? "", chosen: staged.columns[1] ?? "", rejected: staged.columns[2] ?? "" },
              kto: { instruction: staged.columns[0] ?? "", output: staged.columns[1] ?? "", ktoTag: staged.columns[2] ?? "" },
              text: { text: staged.columns[0] ?? "" },
            };
            setMapping(guess.format === next ? guess : { format: next, ...defaults[next] });
          }}
        >
          {IMPORT_FORMATS.map((f) => (
            <option key={f} value={f}>
              {t(FORMAT_LABEL[f])}
            </option>
          ))}
        </select>
        {errAt("format")}
      </div>
      {FIELDS[format].map((f) => (
        <div key={f.key}>
          <label className="field-label" htmlFor={`map-${f.key}`}>
            {t(f.label)}
          </label>
          {f.kind === "column" ? (
            <select id={`map-${f.key}`} className="field-input" value={mapping[f.key] ?? ""} onChange={(e) => setMapping((m) => ({ ...m, [f.key]: e.target.value }))}>
              <option value="">{f.optional ? t("datasets.import.none") : t("datasets.import.pick")}</option>
              {staged.columns.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          ) : (
            <input id={`map-${f.key}`} className="field-input font-mono" value={mapping[f.key] ?? ""} onChange={(e) => setMapping((m) => ({ ...m, [f.key]: e.target.value }))} />
          )}
          {errAt(f.key)}
        </div>
      ))}
    </div>
  );
}

/** The first mapped records, or why the mapping does not work. */
function MappedPreview({ sampleSize, preview }: { sampleSize: number; preview: ReturnType<typeof applyMapping> | null }) {
  const t = useT();
  return (
    <div>
      <h3 className="text-sm font-semibold">{t("datasets.import.preview", { n: sampleSize })}</h3>
      {preview && !preview.ok ? (
        <p className="field-error" role="alert" data-testid="import-preview-error">
          {preview.message}
        </p>
      ) : (
        <pre className="mt-1 max-h-64 overflow-auto rounded bg-slate-50 p-2 text-xs" data-testid="import-preview">
          {preview?.ok ? JSON.stringify(preview.records.slice(0, 3), null, 2) : ""}
        </pre>
      )}
    </div>
  );
}

/** Step one: choose a file and upload it. */
function FilePicker(props: { onPick: (file: File | null) => void; onUpload: () => void; canUpload: boolean; uploading: boolean }) {
  const t = useT();
  return (
    <div className="flex flex-wrap items-end gap-3">
      <div>
        <label className="field-label" htmlFor="import-file">
          {t("datasets.import.file")}
        </label>
        <input
          id="import-file"
          type="file"
          accept=".json,.jsonl,.csv,application/json,text/csv"
          className="field-input"
          onChange={(e) => props.onPick(e.target.files?.[0] ?? null)}
        />
      </div>
      <button type="button" className="btn btn-secondary" onClick={props.onUpload} disabled={!props.canUpload}>
        {props.uploading ? t("datasets.import.uploading") : t("datasets.import.upload")}
      </button>
    </div>
  );
}

export function ImportForm({ maxBytes }: { maxBytes: number }) {
  const t = useT();
  const router = useRouter();
  const [file, setFile] = useState<File | null>(null);
  const [staged, setStaged] = useState<Staged | null>(null);
  const [mapping, setMapping] = useState<Record<string, string>>({});
  const [name, setName] = useState("");
  const [error, setError] = useState<FieldErr>(null);
  const [pending, startTransition] = useTransition();

  const format = (mapping.format ?? "alpaca") as ImportFormat;
  const preview = useMemo(() => {
    if (!staged) return null;
    const r = applyMapping(staged.sample, { ...mapping, format } as ImportMapping);
    return r;
  }, [staged, mapping, format]);

  const upload = () => {
    setError(null);
    if (!file) {
      setError({ field: "file", message: t("datasets.import.chooseFile") });
      return;
    }
    // Checked here for a quick answer; the server enforces the same limit on the bytes it reads.
    if (file.size > maxBytes) {
      setError({ field: "file", message: t("datasets.import.tooLarge", { mb: (maxBytes / 1024 / 1024).toFixed(0) }) });
      return;
    }
    startTransition(async () => {
      const body = new FormData();
      body.set("file", file);
      const res = await fetch("/api/datasets/import", { method: "POST", body });
      const parsed = uploadAnswerSchema.safeParse(await res.json().catch(() => null));
      if (!parsed.success) {
        setError({ field: "file", message: t("datasets.import.uploadFailed", { status: res.status }) });
        return;
      }
      if (!parsed.data.ok) {
        setError({ field: parsed.data.field, message: parsed.data.message });
        return;
      }
      setStaged(parsed.data);
      setMapping(guessMapping(parsed.data.columns) as unknown as Record<string, string>);
      setName(slug(parsed.data.fileName));
    });
  };

  const register = () => {
    if (!staged) return;
    setError(null);
    startTransition(async () => {
      const r = await commitImportAction({ uploadId: staged.uploadId, name, mapping: { ...mapping, format } });
      if (!r.ok) {
        setError({ field: r.field, message: r.message });
        return;
      }
      setStaged(null);
      setFile(null);
      router.push(`/datasets?preview=${encodeURIComponent(r.value.name)}`);
      router.refresh();
    });
  };

  const errAt = (field: string) =>
    error?.field === field ? (
      <p className="field-error" role="alert" data-testid={`import-error-${field}`}>
        {error.message}
      </p>
    ) : null;
  const known = new Set(["file", "name", "format", ...FIELDS[format].map((f) => f.key)]);

  return (
    <div className="space-y-3" data-testid="import-form">
      <FilePicker
        onPick={(picked) => {
          setFile(picked);
          setStaged(null);
          setError(null);
        }}
        onUpload={upload}
        canUpload={!pending && file !== null}
        uploading={pending && !staged}
      />
      <p className="text-xs text-slate-500">{t("datasets.import.help", { mb: (maxBytes / 1024 / 1024).toFixed(0) })}</p>
      {errAt("file")}

      {staged && (
        <div className="space-y-3 border-t border-slate-100 pt-3" data-testid="import-mapping">
          <p className="text-sm" data-testid="import-summary">
            {t("datasets.import.summary", { file: staged.fileName, n: staged.count, columns: staged.columns.join(", ") })}
          </p>
          <MappingFields staged={staged} format={format} mapping={mapping} setMapping={setMapping} errAt={errAt} />

          <MappedPreview sampleSize={staged.sample.length} preview={preview} />

          <div className="flex flex-wrap items-end gap-3">
            <div>
              <label className="field-label" htmlFor="import-name">
                {t("datasets.import.name")}
              </label>
              <input id="import-name" className="field-input font-mono" value={name} onChange={(e) => setName(e.target.value)} />
              {errAt("name")}
            </div>
            <button type="button" className="btn btn-primary" onClick={register} disabled={pending}>
              {pending ? t("datasets.import.registering") : t("datasets.import.register")}
            </button>
          </div>
          {error && !known.has(error.field) && (
            <p className="field-error" role="alert" data-testid="import-error">
              {error.message}
            </p>
          )}
        </div>
      )}
    </div>
  );
}
