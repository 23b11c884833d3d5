// The few parts of oidc-provider 9 (no bundled types) the test provider uses.
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http"

  export interface InteractionDetails {
    readonly uid: string
    readonly prompt: { readonly name: string }
    readonly params: Readonly<Record<string, unknown>>
    readonly session?: { readonly accountId?: string }
  }

  export interface GrantInstance {
    addOIDCScope(scope: string): void
    save(): Promise<string>
    destroy(): Promise<void>
  }

  export interface GrantModel {
    new (properties: { accountId: string; clientId: string }): GrantInstance
    find(id: string): Promise<GrantInstance | undefined>
  }

  export interface EventContext {
    readonly oidc: { readonly params?: Readonly<Record<string, unknown>> }
    readonly body?: unknown
  }

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>)
    readonly Grant: GrantModel
    callback(): (req: IncomingMessage, res: ServerResponse) => void
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: Record<string, unknown>,
      options?: { mergeWithLastSubmission?: boolean }
    ): Promise<void>
    on(event: string, listener: (ctx: EventContext, ...rest: Array<unknown>) => void): this
  }
}
