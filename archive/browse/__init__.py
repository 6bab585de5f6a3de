"""Reading the archive for users: mailboxes, folder trees, message lists, history."""
