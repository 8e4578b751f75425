// t("area.key", vars): one typed lookup function for server and client components.
import { AREAS, type Area } from "./messages";
import { interpolate } from "./define";
import type { Locale } from "./locales";

type KeysOf<A extends Area> = Extract<keyof (typeof AREAS)[A]["en"], string>;
export type MessageKey = { [A in Area]: `${A}.${KeysOf<A>}` }[Area];
export type TFunction = (key: MessageKey, vars?: Record<string, string | number>) => string;

export function makeT(locale: Locale): TFunction {
  return (key, vars) => {
    const dot = key.indexOf(".");
    const area = AREAS[key.slice(0, dot) as Area] as { en: Record<string, string>; zh: Record<string, string> };
    const k = key.slice(dot + 1);
    return interpolate(area?.[locale]?.[k] ?? area?.en?.[k] ?? key, vars);
  };
}
