-- Create "mail_messages" table
CREATE TABLE "mail_messages" ("id" uuid NOT NULL, "kind" character varying NOT NULL, "recipient" character varying NOT NULL, "subject" character varying NOT NULL, "text_body" text NOT NULL, "html_body" text NOT NULL, "message_id" character varying NOT NULL, "state" character varying NOT NULL DEFAULT 'pending', "attempts" bigint NOT NULL DEFAULT 0, "last_error" character varying NULL, "next_attempt_at" timestamptz NOT NULL, "created_at" timestamptz NOT NULL, "sent_at" timestamptz NULL, PRIMARY KEY ("id"));
-- Create index "mail_messages_message_id_key" to table: "mail_messages"
CREATE UNIQUE INDEX "mail_messages_message_id_key" ON "mail_messages" ("message_id");
-- Create index "mailmessage_created_at" to table: "mail_messages"
CREATE INDEX "mailmessage_created_at" ON "mail_messages" ("created_at");
-- Create index "mailmessage_state_next_attempt_at" to table: "mail_messages"
CREATE INDEX "mailmessage_state_next_attempt_at" ON "mail_messages" ("state", "next_attempt_at");
