-- Whether a subscription's periods renew by themselves (a provider with nothing to
-- collect, such as local payments) or only when its provider says it was paid.
ALTER TABLE checkouts ADD COLUMN renews_itself BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE subscriptions ADD COLUMN renews_itself BOOLEAN NOT NULL DEFAULT TRUE;
