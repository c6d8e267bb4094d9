"""Rule-based quality filters for Korean and English: Gopher, C4, FineWeb and Korean web rules.

Each filter scores a document into metadata signals (`<filter>.<signal>`) and then decides against the thresholds
of its language in lmpipe.stages.filter.config; drop reasons are the module constants named `<FILTER>_...`.
"""
