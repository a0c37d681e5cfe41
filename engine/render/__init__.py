"""Source rows become DynamoDB items: the one render stream, the row-to-item transform, estimates."""
