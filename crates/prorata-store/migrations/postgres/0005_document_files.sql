-- Each document's files: its Factur-X PDF and its EN 16931 CII XML, made once after issue
-- and kept as made. The SHA-256 lets anyone check a file against the record; a file is never
-- rewritten (the first one stored wins).
CREATE TABLE document_files (
    tenant_id    BIGINT NOT NULL REFERENCES tenants (id),
    document_id  BIGINT NOT NULL REFERENCES documents (id),
    format       TEXT    NOT NULL CHECK (format IN ('pdf', 'xml')),
    sha256       TEXT    NOT NULL,
    body         BYTEA    NOT NULL,
    PRIMARY KEY (tenant_id, document_id, format)
);

-- Documents whose files are still to be made: written in the transaction that issues them,
-- removed in the one that stores their files, so a crash in between only delays them.
CREATE TABLE document_renders (
    tenant_id    BIGINT NOT NULL REFERENCES tenants (id),
    document_id  BIGINT NOT NULL REFERENCES documents (id),
    PRIMARY KEY (tenant_id, document_id)
);

-- Documents issued before this migration get their files too.
INSERT INTO document_renders (tenant_id, document_id) SELECT tenant_id, id FROM documents;

-- PDFs are deflated already: store them out of line without another compression attempt.
ALTER TABLE document_files ALTER COLUMN body SET STORAGE EXTERNAL;
