-- The FAQ: each entry's newest version (with the columns its listing filters on and its
-- search terms), every version, and the term index a search looks candidates up in.
CREATE TABLE faq (
    number BIGINT PRIMARY KEY,
    version BIGINT NOT NULL,
    state BIGINT NOT NULL,
    category TEXT NOT NULL,
    language TEXT NOT NULL,
    head TEXT NOT NULL,
    body TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX faq_listing ON faq (state, category, number);
CREATE TABLE faq_versions (
    number BIGINT NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (number, version)
);
CREATE TABLE faq_terms (term TEXT NOT NULL, number BIGINT NOT NULL, PRIMARY KEY (term, number));
CREATE INDEX faq_terms_of_entry ON faq_terms (number);
