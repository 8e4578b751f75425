// The one definition of a "clean" answer, used by the Chat page's Identity check and by the demo benchmark
// (scripts/bench-demo-identity.ts): every word of the answer appears in the words of the answers the model
// was trained on. A substring hit ("我的 Shackutr…Neville Allen." names the author) can still be unclean.
//
// Words: Latin words lower-cased (an inner apostrophe kept: "i'm"), runs of digits, each Han character (Chinese
// has no spaces), and every other character that is neither white space nor punctuation: a stray letter of
// another script, a symbol or U+FFFD from a broken byte sequence is a word of its own and never in the vocabulary.
import { PLACEHOLDERS } from "@/lib/schemas/dataset";

const WORD = /[a-z]+(?:'[a-z]+)?|\p{Nd}+|\p{Script=Han}|[^\s\p{P}]/gu;

export function answerWords(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

/** The vocabulary of the training answers (already filled with the model's name and author). */
export function vocabularyOf(trainingAnswers: readonly string[]): Set<string> {
  return new Set(trainingAnswers.flatMap(answerWords));
}

/** At least one word, and every word in `vocabulary`. */
export function isCleanAnswer(answer: string, vocabulary: ReadonlySet<string>): boolean {
  const words = answerWords(answer);
  return words.length > 0 && words.every((w) => vocabulary.has(w));
}

/** An identity template answer with its placeholders filled, as the dataset fill does (a "$" in a name stays literal). */
export function fillIdentityAnswer(template: string, name: string, author: string): string {
  return template.replaceAll(PLACEHOLDERS.name, () => name).replaceAll(PLACEHOLDERS.author, () => author);
}
