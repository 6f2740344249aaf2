-- A group's membership version: it grows by one with every change of its members and
-- with its dissolution, in the transaction that makes the change. The IM nodes cache
-- member lists by version: a stored message carries the version read after it was
-- stored, and a node whose cached list is older reads the members again.
ALTER TABLE chat_groups ADD COLUMN member_version BIGINT NOT NULL DEFAULT 0;
