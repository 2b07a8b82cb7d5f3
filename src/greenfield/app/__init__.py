"""Use cases: each module is one thing a user asks the tool to do."""
