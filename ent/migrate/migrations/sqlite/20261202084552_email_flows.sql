-- Add column "email_verified_at" to table: "users"
ALTER TABLE `users` ADD COLUMN `email_verified_at` datetime NULL;
-- Create "email_tokens" table
CREATE TABLE `email_tokens` (`id` uuid NOT NULL, `kind` text NOT NULL, `email` text NOT NULL, `token_hash` blob NOT NULL, `code_hash` blob NOT NULL, `failed_codes` integer NOT NULL DEFAULT (0), `created_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `spent_at` datetime NULL, `voided_at` datetime NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `email_tokens_users_email_tokens` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "email_tokens_token_hash_key" to table: "email_tokens"
CREATE UNIQUE INDEX `email_tokens_token_hash_key` ON `email_tokens` (`token_hash`);
-- Create index "emailtoken_user_id_kind" to table: "email_tokens"
CREATE INDEX `emailtoken_user_id_kind` ON `email_tokens` (`user_id`, `kind`);
-- Create index "emailtoken_expires_at" to table: "email_tokens"
CREATE INDEX `emailtoken_expires_at` ON `email_tokens` (`expires_at`);
