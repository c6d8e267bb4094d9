"""Per-document text helpers shared by several stages: MeCab morphemes and Korean script, word splitting."""
