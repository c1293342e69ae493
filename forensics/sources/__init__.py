"""Where records come from: local files (and, later, S3, event history, CloudWatch Logs)."""
