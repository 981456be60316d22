"""Settings: config.toml's sections, their ranges and their one loader."""
