-- Create "sessions" table
CREATE TABLE "sessions" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "last_seen_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "revoked_at" timestamptz NULL, "revoked_reason" character varying NULL, "user_agent" character varying NULL, "ip" character varying NULL, "aal" bigint NOT NULL DEFAULT 1, "amr" jsonb NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "sessions_users_sessions" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "session_expires_at" to table: "sessions"
CREATE INDEX "session_expires_at" ON "sessions" ("expires_at");
-- Create index "session_user_id_last_seen_at" to table: "sessions"
CREATE INDEX "session_user_id_last_seen_at" ON "sessions" ("user_id", "last_seen_at");
-- Data: one session per session_id of the existing refresh tokens (hand-written;
-- re-hash with `go run ./ent/migrate/main.go -rehash` after editing). It began when
-- its first token was issued, was last seen at its newest token or rotation, and ended
-- with its newest revocation when no token of it is live. Its expiry is a default
-- that the next refresh recomputes from SESSION_MAX_LIFETIME.
INSERT INTO "sessions" ("id", "user_id", "created_at", "last_seen_at", "expires_at", "revoked_at", "revoked_reason", "user_agent", "ip", "aal", "amr")
SELECT t."session_id",
  (array_agg(t."user_id"))[1],
  min(t."session_started_at"),
  max(coalesce(t."last_used_at", t."created_at")),
  min(t."session_started_at") + interval '30 days',
  CASE WHEN bool_or(t."revoked_at" IS NULL) THEN NULL ELSE max(t."revoked_at") END,
  CASE WHEN bool_or(t."revoked_at" IS NULL) THEN NULL ELSE (array_agg(t."revoked_reason" ORDER BY t."revoked_at" DESC))[1] END,
  (array_agg(t."user_agent" ORDER BY t."created_at"))[1],
  (array_agg(t."ip" ORDER BY t."created_at"))[1],
  1, '["pwd"]'
FROM "refresh_tokens" t GROUP BY t."session_id";
-- Modify "refresh_tokens" table
ALTER TABLE "refresh_tokens" DROP COLUMN "session_started_at", ADD CONSTRAINT "refresh_tokens_sessions_refresh_tokens" FOREIGN KEY ("session_id") REFERENCES "sessions" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
