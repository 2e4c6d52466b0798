-- 002_webhook_secrets.sql - each account's own webhook credentials.
--
-- The default account may take its credentials from the configuration
-- file; every other account keeps them here, set with
-- `engagementd webhook set`.  They are stored as given because the service
-- needs the secret itself to check an HMAC; access to this table is access
-- to those secrets.

CREATE TABLE webhook_secrets (
	account_id bigint NOT NULL REFERENCES accounts,
	provider text NOT NULL,
	name text NOT NULL,
	value text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, provider, name)
);
