"""The pure core: imports schemas and core only."""
