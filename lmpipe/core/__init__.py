"""What every stage shares: the document schema, step base classes, config, readers and writers, the runner."""
