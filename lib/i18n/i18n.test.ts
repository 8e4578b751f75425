import { describe, expect, it } from "vitest";
import { localeOfRequest, pickLocale } from "./locales";
import { AREAS } from "./messages";
import { makeT } from "./translate";

describe("pickLocale", () => {
  it("prefers the cookie, then Accept-Language by weight, then English", () => {
    expect(pickLocale("zh", "en-US,en;q=0.9")).toBe("zh");
    expect(pickLocale(undefined, "zh-CN,zh;q=0.9,en;q=0.8")).toBe("zh");
    expect(pickLocale(undefined, "fr-FR,en;q=0.5,zh;q=0.7")).toBe("zh");
    expect(pickLocale("xx", "de")).toBe("en");
    expect(pickLocale(null, null)).toBe("en");
  });
});

describe("dictionaries", () => {
  it("have the same keys in English and Chinese, none empty", () => {
    for (const [area, d] of Object.entries(AREAS)) {
      const en = d.en as Record<string, string>;
      const zh = d.zh as Record<string, string>;
      expect(Object.keys(zh).sort(), area).toEqual(Object.keys(en).sort());
      for (const [k, v] of Object.entries(zh)) expect(v.trim(), `${area}.${k}`).not.toBe("");
    }
  });
  it("translate and interpolate", () => {
    expect(makeT("zh")("common.nav.runs")).toBe("运行记录");
    expect(makeT("en")("common.nav.runs")).toBe("Runs");
  });
});

describe("localeOfRequest", () => {
  it("takes the tb_locale cookie first, then Accept-Language, else English", () => {
    const req = (headers: Record<string, string>) => new Request("http://localhost/", { headers });
    expect(localeOfRequest(req({ cookie: "a=b; tb_locale=zh", "accept-language": "en" }))).toBe("zh");
    expect(localeOfRequest(req({ "accept-language": "zh-CN,zh;q=0.9,en;q=0.8" }))).toBe("zh");
    expect(localeOfRequest(req({ cookie: "tb_locale=xx" }))).toBe("en");
    expect(localeOfRequest(req({}))).toBe("en");
  });
});
