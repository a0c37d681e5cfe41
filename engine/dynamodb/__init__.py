"""The DynamoDB layer: endpoints, the embedded DynamoDB Local, retry, the writer, reads, table settings."""
