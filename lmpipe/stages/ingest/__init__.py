"""The ingest stage: corpora and WARC crawls to documents (HTML to text, Unicode repair, language ID)."""
