-- Create "signing_keys" table
CREATE TABLE "signing_keys" ("id" uuid NOT NULL, "algorithm" character varying NOT NULL, "state" character varying NOT NULL, "legacy" boolean NOT NULL DEFAULT false, "public_jwk" text NULL, "private_key" bytea NOT NULL, "created_at" timestamptz NOT NULL, "activated_at" timestamptz NULL, "retired_at" timestamptz NULL, "revoked_at" timestamptz NULL, PRIMARY KEY ("id"));
-- Create index "signingkey_one_current" to table: "signing_keys"
CREATE UNIQUE INDEX "signingkey_one_current" ON "signing_keys" ("state") WHERE ((state)::text = 'current'::text);
