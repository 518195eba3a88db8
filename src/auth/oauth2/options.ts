/**
 * OAuth 2.0 options (API.md §2): what the caller gives, and the checked endpoint configuration they
 * resolve to — provider presets (token URL and scope), the grant, https only (loopback excepted).
 */
import net from "node:net";
import { inputError } from "../../errors.js";

/** A token the caller's own function produced (`auth.accessToken` as a function). */
export interface SuppliedToken {
  accessToken: string;
  /** ms since the epoch; when given the token is reused until shortly before then. */
  expiresAt?: number;
}

/** `auth.accessToken` as a function: called when a token is needed (and once more after a refusal). */
export type AccessTokenFunction = () => Promise<string | SuppliedToken>;

/** A token the endpoint issued, as `onToken` sees it. */
export interface IssuedToken {
  accessToken: string;
  /** ms since the epoch. */
  expiresAt: number;
  /** Only when the endpoint rotated the refresh token: the new one, to persist in place of the old. */
  refreshToken?: string;
}

/** A token endpoint (RFC 6749) that issues the access tokens: see API.md §2. */
export interface OAuth2Options {
  /** Fills tokenUrl and scope. "microsoft" needs `tenant`. */
  provider?: "google" | "microsoft";
  /** Microsoft: the directory (tenant) id or domain, e.g. "contoso.onmicrosoft.com". */
  tenant?: string;
  /** Any RFC 6749 token endpoint: https, or http on a loopback address (tests). */
  tokenUrl?: string;
  clientId: string;
  clientSecret?: string;
  /** Grant refresh_token: a user's mailbox. */
  refreshToken?: string;
  /** Default: "refresh_token" when refreshToken is given, else "client_credentials" (app-only). */
  grant?: "refresh_token" | "client_credentials";
  /** Space-separated scopes; default from the provider. */
  scope?: string;
  /** Called with every token fetched; `refreshToken` is set when the provider rotated it (persist it). */
  onToken?: (token: IssuedToken) => void;
  /** ms for the whole token request. Default 30 000 (an identity provider answers in well under that). */
  timeout?: number;
}

/** The endpoint and the request a token source sends, checked. */
export interface TokenEndpointConfig {
  url: URL;
  grant: "refresh_token" | "client_credentials";
  clientId: string;
  clientSecret: string | undefined;
  refreshToken: string | undefined;
  scope: string | undefined;
  timeout: number;
}

const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";
/** Gmail SMTP needs the full-mail scope (developers.google.com/gmail/imap/xoauth2-protocol). */
const GOOGLE_SCOPE = "https://mail.google.com/";
/** Delegated (a user's mailbox): SMTP.Send, and offline_access so that a refresh token keeps coming. */
const MICROSOFT_USER_SCOPE = "https://outlook.office.com/SMTP.Send offline_access";
/** App-only (client credentials): the resource's .default scope. */
const MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default";
const DEFAULT_TIMEOUT_MS = 30_000;

/** Checks `oauth2` and applies the provider's preset. EINPUT (stage CONNECT) for anything unusable. */
export function resolveOAuth2(options: OAuth2Options): TokenEndpointConfig {
  const bad = (message: string) => inputError(`auth.oauth2: ${message}`, "CONNECT");
  if (typeof options !== "object" || options === null) throw bad("must be an object");
  if (typeof options.clientId !== "string" || options.clientId === "") throw bad("clientId is required");
  for (const key of ["clientSecret", "refreshToken", "scope", "tokenUrl", "tenant"] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== "string" || value === ""))
      throw bad(`${key} must be a non-empty string`);
  }
  const grant =
    options.grant ?? (options.refreshToken !== undefined ? "refresh_token" : "client_credentials");
  if (grant !== "refresh_token" && grant !== "client_credentials")
    throw bad(`grant must be "refresh_token" or "client_credentials"`);
  if (grant === "refresh_token" && options.refreshToken === undefined)
    throw bad("the refresh_token grant needs refreshToken");
  if (grant === "client_credentials" && options.clientSecret === undefined)
    throw bad("the client_credentials grant needs clientSecret");

  let tokenUrl = options.tokenUrl;
  let scope = options.scope;
  if (options.provider === "google") {
    tokenUrl ??= GOOGLE_TOKEN_URL;
    scope ??= GOOGLE_SCOPE;
  } else if (options.provider === "microsoft") {
    const tenant = options.tenant;
    // the tenant goes into the URL's path: a GUID or a domain name, nothing that could change the path
    if (tenant === undefined || !/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(tenant))
      throw bad(`provider "microsoft" needs tenant: the directory id (a GUID) or domain`);
    tokenUrl ??= `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/token`;
    scope ??= grant === "client_credentials" ? MICROSOFT_APP_SCOPE : MICROSOFT_USER_SCOPE;
  } else if (options.provider !== undefined) {
    throw bad(`provider must be "google" or "microsoft"`);
  }
  if (tokenUrl === undefined) throw bad("give tokenUrl or provider");
  const url = checkedTokenUrl(tokenUrl, bad);
  const timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
  if (!(Number.isFinite(timeout) && timeout > 0)) throw bad("timeout must be a positive number of ms");
  if (options.onToken !== undefined && typeof options.onToken !== "function")
    throw bad("onToken must be a function");
  return {
    url,
    grant,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    refreshToken: grant === "refresh_token" ? options.refreshToken : undefined,
    scope,
    timeout,
  };
}

/** https, or http to a loopback address literal; no credentials or fragment in the URL. */
function checkedTokenUrl(text: string, bad: (message: string) => Error): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad("tokenUrl is not a URL");
  }
  if (url.username !== "" || url.password !== "") throw bad("tokenUrl must not carry credentials");
  if (url.hash !== "") throw bad("tokenUrl must not have a fragment");
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && isLoopback(url.hostname)) return url;
  throw bad(
    `tokenUrl must be https (the client secret and refresh token travel in the request); ` +
      `http is allowed only to a loopback address`,
  );
}

/** 127.0.0.0/8 or ::1, as IP literals (a name could resolve anywhere). The URL parser has already
 * normalised the address (IPv4 to dotted decimal, IPv6 to its shortest form in brackets). */
function isLoopback(hostname: string): boolean {
  if (net.isIPv4(hostname)) return hostname.startsWith("127.");
  return hostname === "[::1]";
}
