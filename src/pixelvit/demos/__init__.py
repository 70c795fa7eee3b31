"""Demos: the paper's claims in miniature on the bundled digits, end to end in CPU minutes."""
