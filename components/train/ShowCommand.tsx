"use client";
// "Show command": the trainer call and its config file for the form as it is now, to run the
// same training from a terminal. Built from the same validation as Start, so what is shown is
// what the worker would run; invalid fields are listed instead.
import { useId, useState } from "react";
import { useLocale, useT } from "@/lib/i18n/client";
import { safeParseIn } from "@/lib/i18n/validation";
import { runRequestSchema } from "@/lib/schemas/run-config";
import { commandText, displayPath, type CommandPaths } from "@/lib/configs/command";
import { configFileText, trainerConfigFile } from "@/lib/trainer/config-file";
import { stateToInput, type FormState } from "@/lib/configs/form";

export function ShowCommand({ form, paths, modelPath }: { form: FormState; paths: CommandPaths; modelPath: string }) {
  const t = useT();
  const locale = useLocale();
  const [open, setOpen] = useState(false);
  const panelId = useId();
  let content: React.ReactNode = null;
  if (open) {
    const parsed = safeParseIn(runRequestSchema, stateToInput(form), locale);
    if (!parsed.success) {
      content = (
        <div data-testid="command-invalid">
          <p className="text-sm">{t("train.command.invalid")}</p>
          <ul className="mt-1 list-disc pl-5 text-sm text-red-700">
            {parsed.error.issues.map((i, n) => (
              <li key={n}>
                <code>{String(i.path[0] ?? "config")}</code>: {i.message}
              </li>
            ))}
          </ul>
        </div>
      );
    } else {
      const file = trainerConfigFile(parsed.data, { modelPath, dataDir: paths.dataDir, outputDir: paths.outputDir });
      content = (
        <div className="space-y-3">
          <p className="text-sm text-slate-700">{t("train.command.intro")}</p>
          <CopyBlock label={t("train.command.cli")} text={commandText(paths, parsed.data.num_gpus)} testId="command-cli" />
          <CopyBlock
            label={t("train.command.file", { path: displayPath(paths.root, paths.configPath) })}
            text={configFileText(file)}
            testId="command-config"
          />
        </div>
      );
    }
  }
  return (
    <section className="card" aria-labelledby={`${panelId}-title`}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id={`${panelId}-title`} className="font-semibold">
          {t("train.command.title")}
        </h2>
        <button type="button" className="btn btn-secondary" aria-expanded={open} aria-controls={panelId} onClick={() => setOpen((o) => !o)}>
          {open ? t("train.command.hide") : t("train.command.show")}
        </button>
      </div>
      <div id={panelId} hidden={!open} className="mt-3">
        {content}
      </div>
    </section>
  );
}

function CopyBlock({ label, text, testId }: { label: string; text: string; testId: string }) {
  const t = useT();
  const [copied, setCopied] = useState(false);
  const id = useId();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      // No clipboard permission: select the text so that Ctrl+C copies it.
      const pre = document.getElementById(id);
      if (pre) window.getSelection()?.selectAllChildren(pre);
    }
  };
  return (
    <div>
      <div className="flex items-center justify-between gap-2">
        <span className="text-sm font-medium text-slate-700">{label}</span>
        <button type="button" className="btn btn-secondary px-2 py-0.5 text-xs" onClick={copy} aria-label={`${t("train.command.copy")}: ${label}`}>
          <span aria-live="polite">{copied ? t("train.command.copied") : t("train.command.copy")}</span>
        </button>
      </div>
      <pre
        id={id}
        tabIndex={0}
        className="mt-1 max-h-80 overflow-auto rounded-md bg-slate-900 p-3 text-xs text-slate-100"
        data-testid={testId}
        aria-label={label}
      >
        {text}
      </pre>
    </div>
  );
}
