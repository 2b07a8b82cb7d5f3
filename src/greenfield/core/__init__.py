"""Pure logic: no file, network or process I/O here."""
