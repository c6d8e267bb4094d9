"""PII scrubbing: presidio recognizers for Korean and English identifiers, a candidate pre-pass, the `pii` stage."""
