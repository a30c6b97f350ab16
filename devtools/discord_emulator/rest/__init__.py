"""Discord's REST API v10 as far as the bot uses it, one module per area."""
