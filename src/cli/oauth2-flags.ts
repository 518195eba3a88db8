// The CLI's OAuth 2.0 flags: a token endpoint (or a provider preset) from which tokens are fetched, with
// the client secret and refresh token read from environment variables — never from the argument list.
import type { OAuth2Options } from "../auth/oauth2/options.js";
import { CliError, str, type Values } from "./common.js";
import { EXIT } from "./exit-codes.js";

export const OAUTH2_FLAGS = {
  "oauth2-provider": { type: "string" },
  "oauth2-tenant": { type: "string" },
  "oauth2-token-url": { type: "string" },
  "oauth2-client-id": { type: "string" },
  "oauth2-client-secret-env": { type: "string" },
  "oauth2-refresh-token-env": { type: "string" },
  "oauth2-scope": { type: "string" },
} as const;

export const OAUTH2_HELP = `  --oauth2-provider P    google | microsoft: fills the token URL and the scope (microsoft needs --oauth2-tenant)
  --oauth2-tenant T      Microsoft 365: the directory (tenant) id or domain
  --oauth2-token-url URL any OAuth 2.0 token endpoint (https)
  --oauth2-client-id ID  the app's client id
  --oauth2-client-secret-env VAR   the client secret is in environment variable VAR
  --oauth2-refresh-token-env VAR   the refresh token is in VAR (a user's mailbox; without it: the
                         client_credentials grant, Microsoft 365 app-only sending)
  --oauth2-scope S       override the provider's scope
                         Tokens are fetched when needed and sent with OAUTHBEARER or XOAUTH2 (--auth).`;

/** True when any --oauth2-* flag is present. */
export function hasOAuth2Flags(values: Values): boolean {
  return Object.keys(OAUTH2_FLAGS).some((flag) => values[flag] !== undefined);
}

/**
 * The OAuth2Options the flags describe; the library checks the rest (EINPUT, reported as usage).
 * `onRotation` is told when the endpoint rotated the refresh token (the CLI cannot store it).
 */
export function oauth2FromFlags(values: Values, onRotation: () => void): OAuth2Options {
  const clientId = str(values, "oauth2-client-id");
  if (clientId === undefined) throw new CliError(EXIT.USAGE, "--oauth2-* needs --oauth2-client-id");
  const provider = str(values, "oauth2-provider");
  if (provider !== undefined && provider !== "google" && provider !== "microsoft")
    throw new CliError(EXIT.USAGE, "--oauth2-provider must be google or microsoft");
  if (provider === undefined && str(values, "oauth2-token-url") === undefined)
    throw new CliError(EXIT.USAGE, "--oauth2-* needs --oauth2-provider or --oauth2-token-url");
  return {
    provider,
    tenant: str(values, "oauth2-tenant"),
    tokenUrl: str(values, "oauth2-token-url"),
    clientId,
    clientSecret: fromEnv(values, "oauth2-client-secret-env"),
    refreshToken: fromEnv(values, "oauth2-refresh-token-env"),
    scope: str(values, "oauth2-scope"),
    onToken: (token) => {
      if (token.refreshToken !== undefined) onRotation();
    },
  };
}

function fromEnv(values: Values, flag: string): string | undefined {
  const name = str(values, flag);
  if (name === undefined) return undefined;
  const value = process.env[name];
  if (value === undefined || value === "")
    throw new CliError(EXIT.CONFIG, `--${flag} ${name}: the environment variable is not set`);
  return value;
}
