/** Why the boundary refused something the caller sent. Handlers map each kind to an HTTP status in one place. */
export type RejectionKind = 'invalid' | 'unsupported-media-type' | 'too-large' | 'forbidden' | 'not-found';

export class Rejection extends Error {
  override readonly name = 'Rejection';
  constructor(
    readonly kind: RejectionKind,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

export interface FieldError {
  index: number;
  path: string;
  message: string;
}
