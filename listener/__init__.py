"""The listener: holds EWS subscriptions for every configured mailbox and publishes change events
(issue #4)."""
