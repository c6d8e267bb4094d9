"""The tokenizer stage: trains the BPE on the documents (the training itself is lmpipe.tokenizer.train)."""
