-- The audit trail's actor is the authenticated caller; what a caller says of itself (the CLI's
-- user@host) is kept apart, in a note labelled "stated by caller".
ALTER TABLE block_events ADD COLUMN IF NOT EXISTS note String DEFAULT '' AFTER actor;
