"""sqlite2ddb: migrate a SQLite database into DynamoDB through declarative YAML mappings, as a library."""
