-- Create "mail_messages" table
CREATE TABLE `mail_messages` (`id` uuid NOT NULL, `kind` text NOT NULL, `recipient` text NOT NULL, `subject` text NOT NULL, `text_body` text NOT NULL, `html_body` text NOT NULL, `message_id` text NOT NULL, `state` text NOT NULL DEFAULT ('pending'), `attempts` integer NOT NULL DEFAULT (0), `last_error` text NULL, `next_attempt_at` datetime NOT NULL, `created_at` datetime NOT NULL, `sent_at` datetime NULL, PRIMARY KEY (`id`));
-- Create index "mail_messages_message_id_key" to table: "mail_messages"
CREATE UNIQUE INDEX `mail_messages_message_id_key` ON `mail_messages` (`message_id`);
-- Create index "mailmessage_state_next_attempt_at" to table: "mail_messages"
CREATE INDEX `mailmessage_state_next_attempt_at` ON `mail_messages` (`state`, `next_attempt_at`);
-- Create index "mailmessage_created_at" to table: "mail_messages"
CREATE INDEX `mailmessage_created_at` ON `mail_messages` (`created_at`);
