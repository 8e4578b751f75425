// The fast-path options a training run used (its `started` event, stored in Job.result): a
// server component of the Run page. Known fields get a label, others are listed by their name.
import { FAST_PATH_OPTION_FIELDS, type FastPathOptions } from "@/lib/schemas/fast-path-options";
import type { MessageKey, TFunction } from "@/lib/i18n/translate";

function valueText(t: TFunction, value: string | number | boolean | null): string {
  if (value === null) return t("runs.fastPath.auto");
  if (typeof value === "boolean") return t(value ? "runs.fastPath.on" : "runs.fastPath.off");
  return String(value);
}

export function FastPathOptionsPanel({ options, t }: { options: FastPathOptions; t: TFunction }) {
  const known = new Set<string>(FAST_PATH_OPTION_FIELDS);
  const rows = [
    ...FAST_PATH_OPTION_FIELDS.filter((k) => k in options).map((k) => [k, t(`runs.fastPath.field.${k}` as MessageKey)] as const),
    ...Object.keys(options)
      .filter((k) => !known.has(k))
      .map((k) => [k, k] as const),
  ];
  return (
    <details className="card text-sm" data-testid="fast-path-options">
      <summary className="cursor-pointer font-medium">
        {t(options.active === false ? "runs.fastPath.titleOff" : "runs.fastPath.title")}
      </summary>
      <dl className="mt-2 grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1">
        {rows.map(([key, label]) => (
          <div key={key} className="contents" data-testid={`fast-path-option-${key}`}>
            <dt className="text-slate-600">{label}</dt>
            <dd className="font-mono">{valueText(t, options[key] ?? null)}</dd>
          </div>
        ))}
      </dl>
    </details>
  );
}
