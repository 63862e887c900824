"""forebear: verifiable, end-to-end model lineage."""
