// One error type for everything the dataset layer refuses, so an API route can turn it into a
// form message without parsing strings: `field` says which form input to mark red, `code` says
// which HTTP status fits, and `recordIndex` points at the bad record in a dataset file.
import type { z } from "zod";
import { firstFieldError } from "@/lib/forms/field-errors";

export type DatasetErrorCode =
  | "invalid_input" // a form value failed validation (422)
  | "invalid_record" // a record in a dataset file is malformed (422)
  | "invalid_registry" // dataset_info.json itself is malformed (500: the operator must fix it)
  | "invalid_file" // a dataset file is not a JSON array / JSON lines (422)
  | "unsupported" // a formatting or file type this version cannot read (422)
  | "not_found" // unknown dataset name or missing file (404)
  | "already_exists" // name or file taken and overwrite was not asked for (409)
  | "outside_root"; // a path that resolves outside the data directory (400)

export interface DatasetErrorOptions {
  recordIndex?: number;
  /** For record errors: the record's top-level key at fault (e.g. "output", "conversations"). */
  column?: string;
  cause?: unknown;
}

export class DatasetError extends Error {
  override readonly name = "DatasetError";
  readonly code: DatasetErrorCode;
  /** The form field the UI should attach the message to (e.g. "newName", "sourceName"). */
  readonly field: string;
  /** 0-based index into the dataset file's record list, for record errors. */
  readonly recordIndex?: number;
  /** For record errors: the record's top-level key at fault, so an editor can mark that input. */
  readonly column?: string;

  constructor(code: DatasetErrorCode, field: string, message: string, options: DatasetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = field;
    if (options.recordIndex !== undefined) this.recordIndex = options.recordIndex;
    if (options.column !== undefined) this.column = options.column;
  }
}

export function isDatasetError(err: unknown): err is DatasetError {
  return err instanceof DatasetError;
}

/**
 * Turns the first issue of a failed form parse into a DatasetError on the field it concerns.
 * Only the first issue: the form shows one message per submit, and the first is the one the user
 * filled in first.
 */
export function formErrorFromZod(error: z.ZodError, fallbackField: string): DatasetError {
  const { field, message } = firstFieldError(error, fallbackField);
  return new DatasetError("invalid_input", field, message, { cause: error });
}

/** Node's "no such file" error, without widening every catch to `any`. */
export function isNotFound(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "ENOENT";
}
