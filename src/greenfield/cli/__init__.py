"""Command-line interface: parse, call `app`, format. No logic lives here."""
