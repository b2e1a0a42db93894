import type { CodegenConfig } from '@graphql-codegen/cli';

// GraphQL Code Generator for gqlauth: typed operations from operations/*.graphql
// and the trusted-documents manifest (gql/persisted-documents.json) that
// TRUSTED_DOCUMENTS names. The schema is the committed SDL by default; set
// GQLAUTH_SCHEMA to a URL (http://localhost:8080/graphql) to read it by
// introspection, or to http://localhost:8080/schema.graphql.
const config: CodegenConfig = {
  schema: process.env.GQLAUTH_SCHEMA ?? '../../graph/schema.graphql',
  documents: ['operations/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    [process.env.GQLAUTH_CODEGEN_OUT ?? './gql/']: {
      preset: 'client',
      presetConfig: {
        // Write persisted-documents.json and give each document its id,
        // "sha256:<hex>" (what gqlauth's documentId expects).
        persistedDocuments: { hashAlgorithm: 'sha256' },
        fragmentMasking: false,
      },
      config: {
        // gqlauth's custom scalars travel as strings (JSON as an object); strictScalars fails
        // the generation if a new one has no mapping.
        strictScalars: true,
        scalars: {
          Time: 'string', // RFC 3339, e.g. "2026-01-02T15:04:05Z"
          Cursor: 'string', // opaque: pass it back as after/before
          JSON: 'Record<string, unknown>', // an audit event's details
        },
        enumsAsTypes: true,
        // Imports end in .js, so the generated code runs as ES modules.
        emitLegacyCommonJSImports: false,
      },
    },
  },
};

export default config;
