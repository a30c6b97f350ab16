"""The services layer: everything the bot talks to, with no Discord in it."""
