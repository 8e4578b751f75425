// Errors in OpenAI's JSON shape: {"error": {"message", "type", "param", "code"}}, with the status
// codes OpenAI uses (400 invalid request, 401 bad key, 404 unknown model, 429/503 no capacity).
export type OpenAIErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "rate_limit_error"
  | "server_error";

export class OpenAIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: OpenAIErrorType,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new OpenAIError(400, message, "invalid_request_error", param, code);
export const invalidKey = (message: string) => new OpenAIError(401, message, "authentication_error", null, "invalid_api_key");
export const modelNotFound = (model: string) =>
  new OpenAIError(404, `The model '${model}' does not exist. GET /v1/models lists the models this server has.`, "not_found_error", "model", "model_not_found");
export const noCapacity = (message: string) => new OpenAIError(503, message, "server_error", null, "no_worker");
export const tooManyRequests = (message: string) => new OpenAIError(429, message, "rate_limit_error", null, "queue_full");
