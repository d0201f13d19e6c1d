"""What starts a sync: the scheduler's rounds, IMAP IDLE and Graph change-notification
subscriptions. Triggers call the engine; the engine never calls them."""
