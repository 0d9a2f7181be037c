"""The experiments: one per table and figure of the study, plus the extra distributions."""
