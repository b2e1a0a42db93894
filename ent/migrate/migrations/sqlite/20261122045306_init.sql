-- Create "refresh_tokens" table
CREATE TABLE `refresh_tokens` (`id` uuid NOT NULL, `token_hash` blob NOT NULL, `session_id` uuid NOT NULL, `created_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `session_started_at` datetime NOT NULL, `last_used_at` datetime NULL, `revoked_at` datetime NULL, `revoked_reason` text NULL, `replaced_by` uuid NULL, `sealed_successor` blob NULL, `user_agent` text NULL, `ip` text NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `refresh_tokens_users_refresh_tokens` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "refresh_tokens_token_hash_key" to table: "refresh_tokens"
CREATE UNIQUE INDEX `refresh_tokens_token_hash_key` ON `refresh_tokens` (`token_hash`);
-- Create index "refreshtoken_session_id" to table: "refresh_tokens"
CREATE INDEX `refreshtoken_session_id` ON `refresh_tokens` (`session_id`);
-- Create index "refreshtoken_user_id_created_at" to table: "refresh_tokens"
CREATE INDEX `refreshtoken_user_id_created_at` ON `refresh_tokens` (`user_id`, `created_at`);
-- Create index "refreshtoken_expires_at" to table: "refresh_tokens"
CREATE INDEX `refreshtoken_expires_at` ON `refresh_tokens` (`expires_at`);
-- Create "users" table
CREATE TABLE `users` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `email` text NULL, `username` text NULL, `username_key` text NULL, `password_hash` text NOT NULL, `first_name` text NULL, `last_name` text NULL, `age` integer NULL, `role` text NOT NULL DEFAULT ('USER'), PRIMARY KEY (`id`));
-- Create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX `users_email_key` ON `users` (`email`);
-- Create index "users_username_key_key" to table: "users"
CREATE UNIQUE INDEX `users_username_key_key` ON `users` (`username_key`);
