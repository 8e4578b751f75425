// A small RFC 4180 reader for .csv dataset files: a header row names the columns, every other row
// is one record whose cells are strings (the trainer reads CSV cells as strings too).
// Quoted fields may hold commas, doubled quotes ("") and line breaks.

export interface CsvRow {
  cells: string[];
  /** 1-based line on which the row starts, for error messages an editor can follow. */
  line: number;
}

export class CsvSyntaxError extends Error {
  override readonly name = "CsvSyntaxError";
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

/**
 * Splits CSV text into rows of cells. Accepts CRLF, LF or lone CR line ends and a leading UTF-8
 * BOM; skips blank lines (as pandas does). A quote opens a quoted field only at the start of a
 * field; elsewhere in an unquoted field it is kept literally (lenient, like pandas). After a
 * closing quote only a comma or a line end may follow.
 */
export function parseCsv(text: string): CsvRow[] {
  const rows: CsvRow[] = [];
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let cells: string[] = [];
  let cell = "";
  let rowLine = 1;
  let rowHasContent = false;
  let inQuotes = false;
  let afterQuote = false;
  let quoteLine = 1;

  const endRow = () => {
    cells.push(cell);
    if (rowHasContent) rows.push({ cells, line: rowLine });
    cells = [];
    cell = "";
    rowHasContent = false;
    afterQuote = false;
  };

  for (; i < n; i++) {
    const c = text[i];
    if (inQuotes) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else {
          inQuotes = false;
          afterQuote = true;
        }
      } else {
        if (c === "\n" || (c === "\r" && text[i + 1] !== "\n")) line++;
        cell += c;
      }
      continue;
    }
    if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRow();
      line++;
      rowLine = line;
      continue;
    }
    if (c === ",") {
      cells.push(cell);
      cell = "";
      afterQuote = false;
      rowHasContent = true;
      continue;
    }
    if (afterQuote) {
      throw new CsvSyntaxError(line, 'unexpected text after a closing quote (write a quote inside a quoted field as "")');
    }
    rowHasContent = true;
    if (c === '"' && cell === "") {
      inQuotes = true;
      quoteLine = line;
      continue;
    }
    cell += c;
  }
  if (inQuotes) throw new CsvSyntaxError(quoteLine, "quoted field is never closed");
  if (rowHasContent || cell !== "") endRow();
  return rows;
}

export type CsvRecordsResult =
  | { ok: true; records: Record<string, string>[] }
  | { ok: false; line: number; recordIndex?: number; message: string };

/**
 * Turns parsed rows into records keyed by the header row. A row with more or fewer cells than the
 * header is refused rather than padded: it almost always means an unquoted comma.
 */
export function csvRecords(rows: readonly CsvRow[]): CsvRecordsResult {
  const [header, ...body] = rows;
  if (header === undefined) return { ok: true, records: [] };
  const seen = new Set<string>();
  for (const name of header.cells) {
    if (seen.has(name)) return { ok: false, line: header.line, message: `header names column "${name}" twice` };
    seen.add(name);
  }
  const records: Record<string, string>[] = [];
  for (const [index, row] of body.entries()) {
    if (row.cells.length !== header.cells.length) {
      return {
        ok: false,
        line: row.line,
        recordIndex: index,
        message: `record ${index}: has ${row.cells.length} fields but the header has ${header.cells.length} (quote a cell that contains a comma)`,
      };
    }
    // fromEntries, not assignment: a column named "__proto__" stays an ordinary key.
    records.push(Object.fromEntries(header.cells.map((name, k) => [name, row.cells[k] ?? ""])));
  }
  return { ok: true, records };
}

/** One CSV cell: quoted only when it must be (comma, quote, line break, or edge spaces). */
function csvCell(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** The inverse of parseCsv + csvRecords: a header row, then one line per record (CRLF, as RFC 4180). */
export function toCsv(header: readonly string[], records: readonly Record<string, string>[]): string {
  const lines = [header.map(csvCell).join(",")];
  for (const r of records) lines.push(header.map((k) => csvCell(r[k] ?? "")).join(","));
  return `${lines.join("\r\n")}\r\n`;
}
