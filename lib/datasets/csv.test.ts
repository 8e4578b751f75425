import { describe, expect, it } from "vitest";
import { csvRecords, CsvSyntaxError, parseCsv } from "./csv";

const cells = (text: string) => parseCsv(text).map((r) => r.cells);

describe("parseCsv", () => {
  it("splits plain fields and rows, with LF, CRLF or CR line ends and an optional final newline", () => {
    expect(cells("a,b\n1,2")).toEqual([["a", "b"], ["1", "2"]]);
    expect(cells("a,b\r\n1,2\r\n")).toEqual([["a", "b"], ["1", "2"]]);
    expect(cells("a,b\r1,2\r")).toEqual([["a", "b"], ["1", "2"]]);
  });

  it("keeps commas, doubled quotes and line breaks inside quoted fields", () => {
    expect(cells('q,a\n"Hello, world","She said ""hi"""\n')).toEqual([["q", "a"], ["Hello, world", 'She said "hi"']]);
    expect(cells('q,a\n"line 1\nline 2\r\nline 3",x')).toEqual([["q", "a"], ["line 1\nline 2\r\nline 3", "x"]]);
    expect(cells('a\n""\n""""')).toEqual([["a"], [""], ['"']]);
  });

  it("keeps empty fields, spaces and a quote inside an unquoted field", () => {
    expect(cells("a,b,c\n,, x \n")).toEqual([["a", "b", "c"], ["", "", " x "]]);
    expect(cells('a\n5" screen')).toEqual([["a"], ['5" screen']]);
  });

  it("skips blank lines, strips a BOM, and reports the line each row starts on", () => {
    const rows = parseCsv('\ufeffa,b\n\n"x\ny",2\n\n3,4\n');
    expect(rows).toEqual([
      { cells: ["a", "b"], line: 1 },
      { cells: ["x\ny", "2"], line: 3 },
      { cells: ["3", "4"], line: 6 },
    ]);
  });

  it("refuses an unclosed quote and text after a closing quote, naming the line", () => {
    expect(() => parseCsv('a\n"never closed\n')).toThrow(CsvSyntaxError);
    expect(() => parseCsv('a\n"never closed\n')).toThrow("line 2: quoted field is never closed");
    expect(() => parseCsv('a,b\n1,2\n"x"y,3')).toThrow(/^line 3: unexpected text after a closing quote/);
  });

  it("returns nothing for an empty file", () => {
    expect(parseCsv("")).toEqual([]);
    expect(parseCsv("\n\n")).toEqual([]);
  });
});

describe("csvRecords", () => {
  it("keys each row by the header", () => {
    expect(csvRecords(parseCsv("instruction,output\nhi,hello\n"))).toEqual({
      ok: true,
      records: [{ instruction: "hi", output: "hello" }],
    });
  });

  it("refuses a row whose field count differs from the header, naming line and record", () => {
    const result = csvRecords(parseCsv("a,b\n1,2\n3,4,5\n"));
    expect(result).toMatchObject({ ok: false, line: 3, recordIndex: 1 });
    expect(!result.ok && result.message).toMatch(/^record 1: has 3 fields but the header has 2/);
  });

  it("refuses a duplicated column name", () => {
    expect(csvRecords(parseCsv("a,a\n1,2"))).toMatchObject({ ok: false, line: 1 });
  });
});
