-- Create "audit_events" table
CREATE TABLE `audit_events` (`id` uuid NOT NULL, `occurred_at` datetime NOT NULL, `type` text NOT NULL, `actor` text NOT NULL, `user_id` uuid NULL, `session_id` uuid NULL, `ip` text NULL, `user_agent` text NULL, `request_id` text NULL, `details` json NULL, PRIMARY KEY (`id`));
-- Create index "auditevent_user_id_id" to table: "audit_events"
CREATE INDEX `auditevent_user_id_id` ON `audit_events` (`user_id`, `id`);
-- Create index "auditevent_type_id" to table: "audit_events"
CREATE INDEX `auditevent_type_id` ON `audit_events` (`type`, `id`);
-- Create index "auditevent_occurred_at" to table: "audit_events"
CREATE INDEX `auditevent_occurred_at` ON `audit_events` (`occurred_at`);
-- Create "webhook_deliveries" table
CREATE TABLE `webhook_deliveries` (`id` uuid NOT NULL, `event_id` uuid NOT NULL, `endpoint` text NOT NULL, `ordering_key` text NOT NULL, `payload` blob NOT NULL, `created_at` datetime NOT NULL, `status` text NOT NULL DEFAULT ('pending'), `attempts` integer NOT NULL DEFAULT (0), `next_attempt_at` datetime NOT NULL, `leased_until` datetime NULL, `delivered_at` datetime NULL, `last_error` text NULL, PRIMARY KEY (`id`));
-- Create index "webhookdelivery_status_next_attempt_at" to table: "webhook_deliveries"
CREATE INDEX `webhookdelivery_status_next_attempt_at` ON `webhook_deliveries` (`status`, `next_attempt_at`);
-- Create index "webhookdelivery_endpoint_ordering_key_status_id" to table: "webhook_deliveries"
CREATE INDEX `webhookdelivery_endpoint_ordering_key_status_id` ON `webhook_deliveries` (`endpoint`, `ordering_key`, `status`, `id`);
-- Create index "webhookdelivery_created_at" to table: "webhook_deliveries"
CREATE INDEX `webhookdelivery_created_at` ON `webhook_deliveries` (`created_at`);
