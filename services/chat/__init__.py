"""Chat: conversation memory, context building and message splitting, without Discord."""
