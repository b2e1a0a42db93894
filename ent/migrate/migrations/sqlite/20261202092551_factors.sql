-- Add column "auth_time" to table: "sessions"
ALTER TABLE `sessions` ADD COLUMN `auth_time` datetime NULL;
-- Create "factors" table
CREATE TABLE `factors` (`id` uuid NOT NULL, `type` text NOT NULL, `friendly_name` text NULL, `status` text NOT NULL DEFAULT ('UNVERIFIED'), `secret` blob NOT NULL, `last_step` integer NOT NULL DEFAULT (0), `created_at` datetime NOT NULL, `last_used_at` datetime NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `factors_users_factors` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "factor_user_id_status" to table: "factors"
CREATE INDEX `factor_user_id_status` ON `factors` (`user_id`, `status`);
-- Create index "factor_status_created_at" to table: "factors"
CREATE INDEX `factor_status_created_at` ON `factors` (`status`, `created_at`);
-- Create "recovery_codes" table
CREATE TABLE `recovery_codes` (`id` uuid NOT NULL, `code_hash` blob NOT NULL, `created_at` datetime NOT NULL, `used_at` datetime NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `recovery_codes_users_recovery_codes` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "recovery_codes_code_hash_key" to table: "recovery_codes"
CREATE UNIQUE INDEX `recovery_codes_code_hash_key` ON `recovery_codes` (`code_hash`);
-- Create index "recoverycode_user_id" to table: "recovery_codes"
CREATE INDEX `recoverycode_user_id` ON `recovery_codes` (`user_id`);
