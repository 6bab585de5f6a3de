"""The simulator's Microsoft Graph v1.0 face (issue 11): the same mailboxes as the EWS face,
served the way Exchange Online serves them through Graph — app-only tokens, OData reads, delta
queries, change notifications, throttling and faults."""
