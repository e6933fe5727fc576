"""Scanner formats → normalized findings. No database, no web in here."""
