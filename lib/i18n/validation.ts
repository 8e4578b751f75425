// Validation messages in the UI's language. Our schemas phrase their own messages in English
// (custom errors win over any error map in zod 4), so a parse in Chinese takes two steps:
// zod's zh-CN locale as the per-parse error map, for the generic issues our schemas leave to zod
// (a bare .min(0), an unknown enum value), then our messages through the validation dictionary
// (lib/i18n/messages/validation.ts). English is returned untouched. Used on the server (actions)
// and in the browser (the Train form's command preview), so it has no server-only imports.
import { z } from "zod";
import { AREAS } from "./messages";
import { validation } from "./messages/validation";
import type { Locale } from "./locales";

type Template = { re: RegExp; names: string[]; zh: string };

const zhLocale = z.locales.zhCN();

let templates: Template[] | null = null;
let labels: Map<string, string> | null = null;

/** English form labels (lower case) to their Chinese, from every area's "….label" keys; Train's first. */
function zhLabels(): Map<string, string> {
  if (labels) return labels;
  labels = new Map();
  const areas = [AREAS.train, ...Object.values(AREAS)] as { en: Record<string, string>; zh: Record<string, string> }[];
  for (const area of areas) {
    for (const [key, en] of Object.entries(area.en)) {
      const k = en.toLowerCase();
      if (key.endsWith(".label") && !labels.has(k)) labels.set(k, area.zh[key]);
    }
  }
  return labels;
}

function compiled(): Template[] {
  if (templates) return templates;
  const en = validation.en as Record<string, string>;
  const zh = validation.zh as Record<string, string>;
  templates = Object.keys(en).map((key) => {
    const names: string[] = [];
    const source = en[key]
      .split(/(\{\w+\})/)
      .map((part) => {
        const m = /^\{(\w+)\}$/.exec(part);
        if (!m) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        names.push(m[1]);
        return "(.+?)";
      })
      .join("");
    return { re: new RegExp(`^${source}$`), names, zh: zh[key] };
  });
  return templates;
}

/** One message in the locale; a message without a dictionary entry stays as it is. */
export function translateMessage(message: string, locale: Locale): string {
  if (locale === "en") return message;
  for (const t of compiled()) {
    const m = t.re.exec(message);
    if (!m) continue;
    const vars: Record<string, string> = {};
    let ok = true;
    t.names.forEach((name, i) => {
      if (name !== "field") vars[name] = m[i + 1];
      else {
        const label = zhLabels().get(m[i + 1].toLowerCase());
        if (label === undefined) ok = false;
        else vars.field = label;
      }
    });
    if (ok) return t.zh.replace(/\{(\w+)\}/g, (_, k: string) => vars[k]);
  }
  return message;
}

/** Field errors ({field: message}) in the locale. */
export function translateFieldErrors<E extends Partial<Record<string, string>>>(errors: E, locale: Locale): E {
  if (locale === "en") return errors;
  const out: Partial<Record<string, string>> = {};
  for (const [k, v] of Object.entries(errors)) out[k] = v === undefined ? v : translateMessage(v, locale);
  return out as E;
}

/** schema.safeParse with every issue message in the locale. */
export function safeParseIn<S extends z.ZodType>(schema: S, input: unknown, locale: Locale): z.ZodSafeParseResult<z.output<S>> {
  if (locale === "en") return schema.safeParse(input) as z.ZodSafeParseResult<z.output<S>>;
  const r = schema.safeParse(input, { error: zhLocale.localeError }) as z.ZodSafeParseResult<z.output<S>>;
  if (!r.success) for (const issue of r.error.issues) (issue as { message: string }).message = translateMessage(issue.message, locale);
  return r;
}
