-- Schema 1: every bucket of the store in one table. bucket is the encoded
-- path of nested bucket names (each name prefixed with its length, an
-- unsigned varint; the root is the empty path); a nested bucket is a row
-- in its parent with a NULL value. bytea compares bytewise, as bbolt
-- orders keys.
CREATE TABLE kv (
	bucket bytea NOT NULL,
	key    bytea NOT NULL,
	value  bytea,
	PRIMARY KEY (bucket, key)
);

-- Ids shared by every node without a row they all write (kv.IDs).
CREATE SEQUENCE kv_ids;
