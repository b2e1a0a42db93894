-- Modify "factors" table
ALTER TABLE "factors" ALTER COLUMN "secret" DROP NOT NULL, ADD COLUMN "credential_id" bytea NULL, ADD COLUMN "public_key" bytea NULL, ADD COLUMN "sign_count" bigint NOT NULL DEFAULT 0, ADD COLUMN "aaguid" bytea NULL, ADD COLUMN "transports" jsonb NULL, ADD COLUMN "attestation_type" character varying NULL, ADD COLUMN "backup_eligible" boolean NOT NULL DEFAULT false, ADD COLUMN "backed_up" boolean NOT NULL DEFAULT false;
-- Create index "factors_credential_id_key" to table: "factors"
CREATE UNIQUE INDEX "factors_credential_id_key" ON "factors" ("credential_id");
-- Create "webauthn_challenges" table
CREATE TABLE "webauthn_challenges" ("id" uuid NOT NULL, "data" bytea NOT NULL, "expires_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
-- Create index "webauthnchallenge_expires_at" to table: "webauthn_challenges"
CREATE INDEX "webauthnchallenge_expires_at" ON "webauthn_challenges" ("expires_at");
