"""Forum topics for incidents: which alert chats have them (`forums`), an incident's own topic that
follows its state (`topics`), and the pinned board of open incidents (`board`)."""
