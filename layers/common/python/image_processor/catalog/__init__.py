"""The per-product catalog of stored images (DynamoDB), written when a crop is accepted."""
