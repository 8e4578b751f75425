// A preference record's answers as the side-by-side editor shows them: plain text. An alpaca
// answer already is; a sharegpt answer is a message object (or a list whose last message counts,
// as in the trainer), so its content is edited and written back into the same message on save.
import type { AnswerLayout, EditableRecord } from "./edit";

/** The answer keys whose JSON message was turned into its text, with the JSON to write the text back into. */
export type MessageAnswers = Record<string, string>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function answersAsText(record: EditableRecord, answers: AnswerLayout | null | undefined) {
  const values: Record<string, string> = Object.fromEntries(record.fields.map((f) => [f.key, f.value]));
  const messages: MessageAnswers = {};
  if (!answers) return { values, messages };
  for (const key of [answers.chosen, answers.rejected]) {
    const field = record.fields.find((f) => f.key === key);
    if (field === undefined) {
      // A missing alpaca answer gets an empty box, so the user can fill it in.
      if (answers.contentKey === null) values[key] = "";
      continue;
    }
    if (!field.json || answers.contentKey === null) continue;
    const parsed: unknown = JSON.parse(field.value);
    const message = Array.isArray(parsed) ? parsed.at(-1) : parsed;
    if (isObject(message) && typeof message[answers.contentKey] === "string") {
      values[key] = message[answers.contentKey] as string;
      messages[key] = field.value;
    }
  }
  return { values, messages };
}

/** The editor's values with each message answer's text put back into its message (JSON text). */
export function answersFromText(values: Record<string, string>, messages: MessageAnswers, contentKey: string | null): Record<string, string> {
  const out = { ...values };
  if (contentKey === null) return out;
  for (const [key, original] of Object.entries(messages)) {
    const parsed: unknown = JSON.parse(original);
    const text = values[key] ?? "";
    if (Array.isArray(parsed)) {
      const last: unknown = parsed.at(-1);
      out[key] = JSON.stringify([...parsed.slice(0, -1), { ...(isObject(last) ? last : {}), [contentKey]: text }]);
    } else {
      out[key] = JSON.stringify({ ...(isObject(parsed) ? parsed : {}), [contentKey]: text });
    }
  }
  return out;
}
