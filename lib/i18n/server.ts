// Locale for server components and actions: the cookie, else Accept-Language.
import { cookies, headers } from "next/headers";
import { LOCALE_COOKIE, pickLocale, type Locale } from "./locales";
import { makeT, type TFunction } from "./translate";

export async function getLocale(): Promise<Locale> {
  const [c, h] = await Promise.all([cookies(), headers()]);
  return pickLocale(c.get(LOCALE_COOKIE)?.value, h.get("accept-language"));
}

export async function getT(): Promise<TFunction> {
  return makeT(await getLocale());
}
