-- Distributions up to 512 KiB (the upload's staging batch) live here rather than in a file
-- of their own: one inode per small file was most of a small upload's cost. Content-
-- addressed by BLAKE2b-256, as the /files/ URLs are; larger files stay under files/.
CREATE TABLE small_blobs (
    blake2_256 TEXT PRIMARY KEY,
    content BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
