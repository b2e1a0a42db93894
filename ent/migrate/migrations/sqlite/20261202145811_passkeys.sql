-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_factors" table
CREATE TABLE `new_factors` (`id` uuid NOT NULL, `type` text NOT NULL, `friendly_name` text NULL, `status` text NOT NULL DEFAULT ('UNVERIFIED'), `secret` blob NULL, `last_step` integer NOT NULL DEFAULT (0), `credential_id` blob NULL, `public_key` blob NULL, `sign_count` integer NOT NULL DEFAULT (0), `aaguid` blob NULL, `transports` json NULL, `attestation_type` text NULL, `backup_eligible` bool NOT NULL DEFAULT (false), `backed_up` bool NOT NULL DEFAULT (false), `created_at` datetime NOT NULL, `last_used_at` datetime NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `factors_users_factors` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Copy rows from old table "factors" to new temporary table "new_factors"
INSERT INTO `new_factors` (`id`, `type`, `friendly_name`, `status`, `secret`, `last_step`, `created_at`, `last_used_at`, `user_id`) SELECT `id`, `type`, `friendly_name`, `status`, `secret`, `last_step`, `created_at`, `last_used_at`, `user_id` FROM `factors`;
-- Drop "factors" table after copying rows
DROP TABLE `factors`;
-- Rename temporary table "new_factors" to "factors"
ALTER TABLE `new_factors` RENAME TO `factors`;
-- Create index "factors_credential_id_key" to table: "factors"
CREATE UNIQUE INDEX `factors_credential_id_key` ON `factors` (`credential_id`);
-- Create index "factor_user_id_status" to table: "factors"
CREATE INDEX `factor_user_id_status` ON `factors` (`user_id`, `status`);
-- Create index "factor_status_created_at" to table: "factors"
CREATE INDEX `factor_status_created_at` ON `factors` (`status`, `created_at`);
-- Create "webauthn_challenges" table
CREATE TABLE `webauthn_challenges` (`id` uuid NOT NULL, `data` blob NOT NULL, `expires_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- Create index "webauthnchallenge_expires_at" to table: "webauthn_challenges"
CREATE INDEX `webauthnchallenge_expires_at` ON `webauthn_challenges` (`expires_at`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
