-- Home mailbox servers named in a contact's card (JSON array of full multiaddrs).
ALTER TABLE contacts ADD COLUMN mailboxes TEXT NOT NULL DEFAULT '[]';
