import { HttpApiMiddleware } from "effect/http-api"
import { ValidationError } from "./ApiErrors.ts"

/**
 * Renders request decoding failures as a 400 ValidationError naming every invalid field, and refuses
 * text no endpoint can store before any endpoint sees it. The declaration only: the server's layer is
 * `ValidationErrorsLive` in `src/http/ValidationErrors.ts`.
 */
export class ValidationErrors extends HttpApiMiddleware.Service<ValidationErrors>()("mail-helper/ValidationErrors", {
  error: ValidationError
}) {}
