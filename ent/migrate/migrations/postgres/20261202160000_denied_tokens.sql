-- Create index "session_revoked_at" to table: "sessions"
CREATE INDEX "session_revoked_at" ON "sessions" ("revoked_at");
-- Create "denied_tokens" table
CREATE TABLE "denied_tokens" ("id" uuid NOT NULL, "user_id" uuid NOT NULL, "jti" character varying NULL, "issued_before" timestamptz NULL, "expires_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
-- Create index "deniedtoken_expires_at" to table: "denied_tokens"
CREATE INDEX "deniedtoken_expires_at" ON "denied_tokens" ("expires_at");
