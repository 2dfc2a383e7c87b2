-- Statistics read counters by key range (a period's days); ranges compare bytes, whatever
-- collation the database was created with.
CREATE INDEX counters_by_bytes ON counters (name COLLATE "C");
