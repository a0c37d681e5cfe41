"""The bulk path: items as DynamoDB JSON parts (local or S3), rendered on every core, loaded by ImportTable."""
