-- Sign-in accounts: one versioned document per login (password hash, throttling, API token
-- hashes), written with compare-and-swap on the version.
CREATE TABLE accounts (login VARCHAR(255) PRIMARY KEY, version BIGINT NOT NULL, doc LONGTEXT NOT NULL)
    ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
