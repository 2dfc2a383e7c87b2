-- Sign-in accounts: one versioned document per login (password hash, throttling, API token
-- hashes), written with compare-and-swap on the version.
CREATE TABLE accounts (login TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL);
