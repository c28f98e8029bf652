DROP TABLE IF EXISTS message_status;
