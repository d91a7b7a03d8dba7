-- PEP 740: each file's provenance (the Integrity API's document, as PyPI stores the
-- parsed attestations) and the verification report of each attestation.
ALTER TABLE files ADD COLUMN provenance TEXT;
ALTER TABLE files ADD COLUMN attestations TEXT;
