-- The usage notice last queued for a subscription, and the period it was for: a
-- message whose reply failed is not counted, so usage can cross a threshold again in
-- one period, and is not noticed again.
ALTER TABLE subscriptions ADD COLUMN notice_percent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN notice_period_end DATETIME;
