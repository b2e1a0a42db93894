-- Create "users" table
CREATE TABLE "users" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "email" character varying NULL, "username" character varying NULL, "username_key" character varying NULL, "password_hash" character varying NOT NULL, "first_name" character varying NULL, "last_name" character varying NULL, "age" bigint NULL, "role" character varying NOT NULL DEFAULT 'USER', PRIMARY KEY ("id"));
-- Create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX "users_email_key" ON "users" ("email");
-- Create index "users_username_key_key" to table: "users"
CREATE UNIQUE INDEX "users_username_key_key" ON "users" ("username_key");
-- Create "refresh_tokens" table
CREATE TABLE "refresh_tokens" ("id" uuid NOT NULL, "token_hash" bytea NOT NULL, "session_id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "session_started_at" timestamptz NOT NULL, "last_used_at" timestamptz NULL, "revoked_at" timestamptz NULL, "revoked_reason" character varying NULL, "replaced_by" uuid NULL, "sealed_successor" bytea NULL, "user_agent" character varying NULL, "ip" character varying NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "refresh_tokens_users_refresh_tokens" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "refresh_tokens_token_hash_key" to table: "refresh_tokens"
CREATE UNIQUE INDEX "refresh_tokens_token_hash_key" ON "refresh_tokens" ("token_hash");
-- Create index "refreshtoken_expires_at" to table: "refresh_tokens"
CREATE INDEX "refreshtoken_expires_at" ON "refresh_tokens" ("expires_at");
-- Create index "refreshtoken_session_id" to table: "refresh_tokens"
CREATE INDEX "refreshtoken_session_id" ON "refresh_tokens" ("session_id");
-- Create index "refreshtoken_user_id_created_at" to table: "refresh_tokens"
CREATE INDEX "refreshtoken_user_id_created_at" ON "refresh_tokens" ("user_id", "created_at");
