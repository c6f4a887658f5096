"""The outage spool's replay: spooled calls and texts recorded in order once the database is
back."""
