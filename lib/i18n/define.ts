// Message dictionaries: English is the source of truth; the Chinese table must have exactly the
// same keys (a missing or extra key is a type error). `{name}` placeholders are filled by t().
export type Messages = Record<string, string>;

export function defineMessages<const E extends Messages>(en: E, zh: { [K in keyof E]: string }) {
  return { en, zh } as { en: E; zh: { [K in keyof E]: string } };
}

export function interpolate(template: string, vars?: Record<string, string | number>): string {
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}
