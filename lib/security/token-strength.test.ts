import { describe, expect, it } from "vitest";
import { tokenWeakness } from "./token-strength";

describe("token strength", () => {
  it("refuses short, blank, repetitive and guessable tokens", () => {
    for (const weak of ["short", " ".repeat(16), "x".repeat(16), "aaaaaaaabbbbbbbbcccc", "abcdefghijklmnop", "1234567890123456", "password password"]) {
      expect(tokenWeakness(weak), JSON.stringify(weak)).not.toBeNull();
    }
  });
  it("accepts generated and passphrase-like tokens", () => {
    for (const strong of ["correct-horse-battery-staple-42", "0123456789abcdef0123456789abcdef", "Zq8-wL2pX9vR4mT7", "e2e-token-0123456789abcdefXYZ"]) {
      expect(tokenWeakness(strong), strong).toBeNull();
    }
  });
});
