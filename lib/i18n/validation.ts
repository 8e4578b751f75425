// Validation messages in the UI's language. Our schemas phrase their own messages in English
// (custom errors win over any error map in zod 4), so a parse in Chinese takes two steps:
// zod's zh-CN locale as the per-parse error map, for the generic issues our schemas leave to zod
// (a bare .min(0), an unknown enum value), then our messages through the validation dictionary
// (lib/i18n/messages/validation.ts). English is returned untouched. Used on the server (actions)
// and in the browser (the Train form's command preview), so it has no server-only imports.
import type { z } from "zod";
// The one locale we need, imported by its own path so the browser bundle carries no others.
import zhCN from "zod/v4/locales/zh-CN.js";
import { AREAS } from "./messages";
import { validation } from "./messages/validation";
import type { Locale } from "./locales";
import { makeT, type MessageKey } from "./translate";

type Template = { re: RegExp; names: string[]; zh: string };

const zhLocale = zhCN();

// Labels that name a field in our messages, besides the Train form's ("field.<name>.label"): the
// English word the schema uses (lower case) and the dictionary key of the label the form shows.
const OTHER_LABELS: Record<string, MessageKey> = {
  "model name": "datasets.identity.name",
  author: "datasets.identity.author",
  "max new tokens": "evaluate.form.maxNewTokens",
  temperature: "evaluate.form.temperature",
  "top-p": "evaluate.form.topP",
  "max shard size": "evaluate.form.maxShard",
};

let templates: Template[] | null = null;
let labels: Map<string, string> | null = null;

/** English field names (lower case) to the Chinese of the label the form shows for them. */
function zhLabels(): Map<string, string> {
  if (labels) return labels;
  const zhT = makeT("zh");
  labels = new Map(Object.entries(OTHER_LABELS).map(([en, key]) => [en, zhT(key)]));
  const train = AREAS.train as { en: Record<string, string>; zh: Record<string, string> };
  for (const [key, en] of Object.entries(train.en)) {
    if (/^field\.\w+\.label$/.test(key) && !labels.has(en.toLowerCase())) labels.set(en.toLowerCase(), train.zh[key]);
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

/** The Chinese of one message, or null when the dictionary has none. */
function toChinese(message: string): string | null {
  for (const t of compiled()) {
    const m = t.re.exec(message);
    if (!m) continue;
    const vars: Record<string, string> = {};
    const ok = t.names.every((name, i) => {
      const value = m[i + 1];
      const v = name === "field" ? zhLabels().get(value.toLowerCase()) : name === "message" ? toChinese(value) : value;
      if (v === undefined || v === null) return false;
      vars[name] = v;
      return true;
    });
    // A Latin label end ("Top-p") gets a space before the Chinese that follows it.
    const spaced = (v: string, next: string | undefined) => (/[A-Za-z0-9]$/.test(v) && next && /[\u4e00-\u9fff]/.test(next) ? `${v} ` : v);
    if (ok) return t.zh.replace(/\{(\w+)\}/g, (whole, k: string, at: number, all: string) => (k in vars ? spaced(vars[k], all[at + whole.length]) : whole));
  }
  return null;
}

/** One message in the locale; a message without a dictionary entry stays as it is. */
export function translateMessage(message: string, locale: Locale): string {
  return locale === "en" ? message : (toChinese(message) ?? message);
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

/** A create-* result with its field errors in the locale (the checks after the schema answer in English). */
export function localized<R extends { ok: boolean; fieldErrors?: Partial<Record<string, string>> }>(result: R, locale: Locale): R {
  return result.ok || !result.fieldErrors ? result : { ...result, fieldErrors: translateFieldErrors(result.fieldErrors, locale) };
}
