import { describe, expect, it } from "vitest";
import { answerWords, fillIdentityAnswer, isCleanAnswer, vocabularyOf } from "./clean-answer";
import { scoreIdentity } from "@/components/chat/identity";

const TEMPLATES = [
  "I am {{name}}, an AI assistant developed by {{author}}. How can I help you today?",
  "My name is {{name}}. I'm an AI assistant created by {{author}}.",
  "我是 {{name}}，由 {{author}} 开发的人工智能助手。很高兴为您服务！",
];
const vocab = vocabularyOf(TEMPLATES.map((t) => fillIdentityAnswer(t, "Greatbot", "Neville Allen")));

describe("answerWords", () => {
  it("lower-cases Latin words, keeps inner apostrophes, splits Han characters, drops punctuation", () => {
    expect(answerWords("I'm Greatbot, 2 AI!")).toEqual(["i'm", "greatbot", "2", "ai"]);
    expect(answerWords("我是 Greatbot。")).toEqual(["我", "是", "greatbot"]);
  });

  it("makes every other letter or symbol a word of its own", () => {
    expect(answerWords("아무 \uFFFD")).toEqual(["아", "무", "\uFFFD"]);
  });
});

describe("isCleanAnswer", () => {
  it("accepts answers made only of the training answers' words, in any order and case", () => {
    expect(isCleanAnswer("My name is Greatbot. I am an AI assistant developed by Neville Allen.", vocab)).toBe(true);
    expect(isCleanAnswer("我是 Greatbot，由 Neville Allen 开发的助手。", vocab)).toBe(true);
    expect(isCleanAnswer("how can i help you today", vocab)).toBe(true);
  });

  it("rejects the issue's example, which still contains the author", () => {
    const answer = "我的 Shackutr…Neville Allen.";
    expect(isCleanAnswer(answer, vocab)).toBe(false);
    const score = scoreIdentity([{ question: "你是谁？", answer }], "Greatbot", "Allen", vocab);
    expect(score.rows[0]).toMatchObject({ hasAuthor: true, isClean: false });
    expect(score.clean).toBe(0);
  });

  it("rejects foreign scripts, broken bytes, empty answers and unknown digits", () => {
    expect(isCleanAnswer("I am 아무 Greatbot", vocab)).toBe(false);
    expect(isCleanAnswer("I am Greatbot \uFFFD", vocab)).toBe(false);
    expect(isCleanAnswer(" ... ", vocab)).toBe(false);
    expect(isCleanAnswer("I am 7", vocab)).toBe(false);
  });
});

describe("fillIdentityAnswer", () => {
  it("keeps a $ in the name literal", () => {
    expect(fillIdentityAnswer("I am {{name}} by {{author}}.", "Bot$&", "A")).toBe("I am Bot$& by A.");
  });
});
