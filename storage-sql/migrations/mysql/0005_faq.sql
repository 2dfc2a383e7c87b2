-- The FAQ: each entry's newest version (with the columns its listing filters on and its
-- search terms), every version, and the term index a search looks candidates up in.
CREATE TABLE faq (
    number BIGINT PRIMARY KEY,
    version BIGINT NOT NULL,
    state BIGINT NOT NULL,
    category VARCHAR(255) NOT NULL,
    language VARCHAR(16) NOT NULL,
    head LONGTEXT NOT NULL,
    body LONGTEXT NOT NULL,
    doc LONGTEXT NOT NULL,
    KEY faq_listing (state, category, number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE faq_versions (
    number BIGINT NOT NULL,
    version BIGINT NOT NULL,
    doc LONGTEXT NOT NULL,
    PRIMARY KEY (number, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE faq_terms (
    term VARCHAR(255) NOT NULL,
    number BIGINT NOT NULL,
    PRIMARY KEY (term, number),
    KEY faq_terms_of_entry (number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
