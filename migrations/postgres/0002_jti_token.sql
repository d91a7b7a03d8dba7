-- Which token a claimed jti minted: lets one batch decide jti, token and audit row
-- in SQL (a token is stored only if its jti row names it).
ALTER TABLE oidc_jti ADD COLUMN token_id TEXT;
