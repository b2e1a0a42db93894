-- Create "audit_events" table
CREATE TABLE "audit_events" ("id" uuid NOT NULL, "occurred_at" timestamptz NOT NULL, "type" character varying NOT NULL, "actor" character varying NOT NULL, "user_id" uuid NULL, "session_id" uuid NULL, "ip" character varying NULL, "user_agent" character varying NULL, "request_id" character varying NULL, "details" jsonb NULL, PRIMARY KEY ("id"));
-- Create index "auditevent_occurred_at" to table: "audit_events"
CREATE INDEX "auditevent_occurred_at" ON "audit_events" ("occurred_at");
-- Create index "auditevent_type_id" to table: "audit_events"
CREATE INDEX "auditevent_type_id" ON "audit_events" ("type", "id");
-- Create index "auditevent_user_id_id" to table: "audit_events"
CREATE INDEX "auditevent_user_id_id" ON "audit_events" ("user_id", "id");
-- Create "webhook_deliveries" table
CREATE TABLE "webhook_deliveries" ("id" uuid NOT NULL, "event_id" uuid NOT NULL, "endpoint" character varying NOT NULL, "ordering_key" character varying NOT NULL, "payload" bytea NOT NULL, "created_at" timestamptz NOT NULL, "status" character varying NOT NULL DEFAULT 'pending', "attempts" bigint NOT NULL DEFAULT 0, "next_attempt_at" timestamptz NOT NULL, "leased_until" timestamptz NULL, "delivered_at" timestamptz NULL, "last_error" character varying NULL, PRIMARY KEY ("id"));
-- Create index "webhookdelivery_created_at" to table: "webhook_deliveries"
CREATE INDEX "webhookdelivery_created_at" ON "webhook_deliveries" ("created_at");
-- Create index "webhookdelivery_endpoint_ordering_key_status_id" to table: "webhook_deliveries"
CREATE INDEX "webhookdelivery_endpoint_ordering_key_status_id" ON "webhook_deliveries" ("endpoint", "ordering_key", "status", "id");
-- Create index "webhookdelivery_status_next_attempt_at" to table: "webhook_deliveries"
CREATE INDEX "webhookdelivery_status_next_attempt_at" ON "webhook_deliveries" ("status", "next_attempt_at");
