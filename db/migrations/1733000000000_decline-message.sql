-- Up Migration

-- Stripe's own message for a declined payment ("Your card was declined."), kept with the order so
-- that the 402 answered again after Redis lost the stored answer is the very answer given first.
ALTER TABLE orders ADD COLUMN decline_message text;

-- Down Migration
ALTER TABLE orders DROP COLUMN decline_message;
