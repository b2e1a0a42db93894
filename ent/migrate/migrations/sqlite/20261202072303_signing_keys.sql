-- Create "signing_keys" table
CREATE TABLE `signing_keys` (`id` uuid NOT NULL, `algorithm` text NOT NULL, `state` text NOT NULL, `legacy` bool NOT NULL DEFAULT (false), `public_jwk` text NULL, `private_key` blob NOT NULL, `created_at` datetime NOT NULL, `activated_at` datetime NULL, `retired_at` datetime NULL, `revoked_at` datetime NULL, PRIMARY KEY (`id`));
-- Create index "signingkey_one_current" to table: "signing_keys"
CREATE UNIQUE INDEX `signingkey_one_current` ON `signing_keys` (`state`) WHERE state = 'current';
