// A typed gqlauth client: the operations of operations/*.graphql, typed by
// GraphQL Code Generator (`npx graphql-codegen` writes ./gql), sent with
// graphql-request; or, to a server that runs only trusted documents
// (TRUSTED_DOCUMENTS_MODE=enforce), by document id alone.
//
//   npx graphql-codegen && npx tsc && node dist/client.js http://localhost:8080/graphql [--trusted]
//
// Run as a script it signs up, asks who it is, refreshes and logs out, and
// prints what it saw as JSON (internal/e2e runs it against a live gqlauth).
import { GraphQLClient, ClientError } from 'graphql-request';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { pathToFileURL } from 'node:url';

import {
  LogoutDocument,
  MeDocument,
  RefreshDocument,
  SignUpDocument,
  type MeQuery,
  type SignUpMutation,
} from './gql/graphql.js';

/** A GraphQL error as gqlauth sends it: extensions.code says what went wrong. */
export interface GqlauthError {
  message: string;
  extensions?: { code?: string; [key: string]: unknown };
}

/** The errors of a response that had some. */
export class GqlauthErrors extends Error {
  constructor(
    readonly errors: GqlauthError[],
    readonly status: number,
  ) {
    super(errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; '));
  }

  /** The code of the first error. */
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}

/** The id Code Generator gave a document ("sha256:<hex>"). */
export function documentId(doc: TypedDocumentNode<unknown, never>): string {
  const hash = (doc as { __meta__?: { hash?: string } }).__meta__?.hash;
  if (!hash) {
    throw new Error('the document has no id: generate with persistedDocuments (codegen.ts)');
  }
  return hash;
}

/** A client of one gqlauth endpoint, with the access token it holds. */
export class Gqlauth {
  accessToken: string | undefined;
  private readonly client: GraphQLClient;

  /** trusted: send document ids only, never the document text. */
  constructor(
    private readonly url: string,
    private readonly trusted = false,
  ) {
    this.client = new GraphQLClient(url, {
      headers: (): Record<string, string> =>
        this.accessToken ? { authorization: `Bearer ${this.accessToken}` } : {},
    });
  }

  /** Runs a generated operation; GraphQL errors throw GqlauthErrors. */
  async request<R, V extends Record<string, unknown>>(doc: TypedDocumentNode<R, V>, variables: V): Promise<R> {
    if (this.trusted) {
      return this.send<R>({ documentId: documentId(doc as TypedDocumentNode<unknown, never>), variables });
    }
    try {
      return await this.client.request<R, V>({ document: doc, variables } as never);
    } catch (e) {
      if (e instanceof ClientError && e.response.errors) {
        throw new GqlauthErrors(e.response.errors as GqlauthError[], e.response.status);
      }
      throw e;
    }
  }

  /** Posts a GraphQL-over-HTTP request body as it is. */
  async send<R>(body: Record<string, unknown>): Promise<R> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json;q=0.9',
        ...(this.accessToken ? { authorization: `Bearer ${this.accessToken}` } : {}),
      },
      body: JSON.stringify(body),
    });
    const out = (await res.json()) as { data?: R | null; errors?: GqlauthError[] };
    if (out.errors?.length) {
      throw new GqlauthErrors(out.errors, res.status);
    }
    if (out.data == null) {
      throw new Error(`no data (HTTP ${res.status})`);
    }
    return out.data;
  }
}

/** The code of the GraphQL error a promise fails with, or "no error". */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    if (e instanceof GqlauthErrors) {
      return e.code ?? 'no code';
    }
    throw e;
  }
}

/** Signs up, asks who it is, refreshes, logs out; reports what it saw. */
async function main(url: string, trusted: boolean): Promise<void> {
  const gql = new Gqlauth(url, trusted);
  const email = `codegen-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const up: SignUpMutation = await gql.request(SignUpDocument, {
    input: { email, password: 'correct horse battery' },
  });
  gql.accessToken = up.signUp.accessToken;
  const me: MeQuery = await gql.request(MeDocument, {});
  const refreshed = await gql.request(RefreshDocument, { refreshToken: up.signUp.refreshToken });
  gql.accessToken = refreshed.refresh.accessToken;
  const loggedOut = await gql.request(LogoutDocument, { scope: 'LOCAL' });
  const report: Record<string, unknown> = {
    signUp: up.signUp.user.email,
    createdAt: up.signUp.user.createdAt,
    me: me.me.email,
    role: me.me.role,
    refreshed: refreshed.refresh.accessToken !== up.signUp.accessToken,
    logout: loggedOut.logout,
  };
  if (trusted) {
    // What the server says to anything but a known id.
    report.rawQuery = await codeOf(gql.send({ query: '{ me { id } }' }));
    report.unknownId = await codeOf(gql.send({ documentId: `sha256:${'0'.repeat(64)}` }));
  }
  console.log(JSON.stringify(report));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [url, flag] = process.argv.slice(2);
  if (!url) {
    console.error('usage: node dist/client.js GRAPHQL_URL [--trusted]');
    process.exit(2);
  }
  await main(url, flag === '--trusted');
}
