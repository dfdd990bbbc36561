-- Each tenant's seller logos (issue #17, item 3), a PNG keyed by its SHA-256: documents name
-- the logo they were issued with (their seller snapshot), so a logo is kept forever, even
-- once replaced, and a re-render of an old document finds the one it printed.
CREATE TABLE seller_logos (
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id),
    sha256      TEXT   NOT NULL,
    png         BYTEA  NOT NULL,
    PRIMARY KEY (tenant_id, sha256)
);
