"""Lineage in from other tools: ``forebear.importers.mlflow`` reads an MLflow tracking
server's runs. Each importer maps what it reads onto ordinary journal entries, so imported
runs are queried, diffed, flagged and exported like any other."""
