-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "sessions" table
CREATE TABLE `sessions` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `last_seen_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `revoked_at` datetime NULL, `revoked_reason` text NULL, `user_agent` text NULL, `ip` text NULL, `aal` integer NOT NULL DEFAULT (1), `amr` json NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `sessions_users_sessions` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "session_user_id_last_seen_at" to table: "sessions"
CREATE INDEX `session_user_id_last_seen_at` ON `sessions` (`user_id`, `last_seen_at`);
-- Create index "session_expires_at" to table: "sessions"
CREATE INDEX `session_expires_at` ON `sessions` (`expires_at`);
-- Data: one session per session_id of the existing refresh tokens (hand-written;
-- re-hash with `go run ./ent/migrate/main.go -rehash` after editing). It began when
-- its first token was issued, was last seen at its newest token or rotation, and ended
-- with its newest revocation when no token of it is live. Its expiry is a default
-- that the next refresh recomputes from SESSION_MAX_LIFETIME.
INSERT INTO `sessions` (`id`, `user_id`, `created_at`, `last_seen_at`, `expires_at`, `revoked_at`, `revoked_reason`, `user_agent`, `ip`, `aal`, `amr`)
SELECT t.`session_id`,
  min(t.`user_id`),
  min(t.`session_started_at`),
  max(coalesce(t.`last_used_at`, t.`created_at`)),
  strftime('%Y-%m-%d %H:%M:%f+00:00', min(t.`session_started_at`), '+30 days'),
  CASE WHEN sum(t.`revoked_at` IS NULL) > 0 THEN NULL ELSE max(t.`revoked_at`) END,
  CASE WHEN sum(t.`revoked_at` IS NULL) > 0 THEN NULL ELSE (SELECT r.`revoked_reason` FROM `refresh_tokens` r WHERE r.`session_id` = t.`session_id` ORDER BY r.`revoked_at` DESC LIMIT 1) END,
  (SELECT r.`user_agent` FROM `refresh_tokens` r WHERE r.`session_id` = t.`session_id` ORDER BY r.`created_at` LIMIT 1),
  (SELECT r.`ip` FROM `refresh_tokens` r WHERE r.`session_id` = t.`session_id` ORDER BY r.`created_at` LIMIT 1),
  1, '["pwd"]'
FROM `refresh_tokens` t GROUP BY t.`session_id`;
-- Create "new_refresh_tokens" table
CREATE TABLE `new_refresh_tokens` (`id` uuid NOT NULL, `token_hash` blob NOT NULL, `created_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `last_used_at` datetime NULL, `revoked_at` datetime NULL, `revoked_reason` text NULL, `replaced_by` uuid NULL, `sealed_successor` blob NULL, `user_agent` text NULL, `ip` text NULL, `session_id` uuid NOT NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `refresh_tokens_sessions_refresh_tokens` FOREIGN KEY (`session_id`) REFERENCES `sessions` (`id`) ON DELETE CASCADE, CONSTRAINT `refresh_tokens_users_refresh_tokens` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Copy rows from old table "refresh_tokens" to new temporary table "new_refresh_tokens"
INSERT INTO `new_refresh_tokens` (`id`, `token_hash`, `created_at`, `expires_at`, `last_used_at`, `revoked_at`, `revoked_reason`, `replaced_by`, `sealed_successor`, `user_agent`, `ip`, `session_id`, `user_id`) SELECT `id`, `token_hash`, `created_at`, `expires_at`, `last_used_at`, `revoked_at`, `revoked_reason`, `replaced_by`, `sealed_successor`, `user_agent`, `ip`, `session_id`, `user_id` FROM `refresh_tokens`;
-- Drop "refresh_tokens" table after copying rows
DROP TABLE `refresh_tokens`;
-- Rename temporary table "new_refresh_tokens" to "refresh_tokens"
ALTER TABLE `new_refresh_tokens` RENAME TO `refresh_tokens`;
-- Create index "refresh_tokens_token_hash_key" to table: "refresh_tokens"
CREATE UNIQUE INDEX `refresh_tokens_token_hash_key` ON `refresh_tokens` (`token_hash`);
-- Create index "refreshtoken_session_id" to table: "refresh_tokens"
CREATE INDEX `refreshtoken_session_id` ON `refresh_tokens` (`session_id`);
-- Create index "refreshtoken_user_id_created_at" to table: "refresh_tokens"
CREATE INDEX `refreshtoken_user_id_created_at` ON `refresh_tokens` (`user_id`, `created_at`);
-- Create index "refreshtoken_expires_at" to table: "refresh_tokens"
CREATE INDEX `refreshtoken_expires_at` ON `refresh_tokens` (`expires_at`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
