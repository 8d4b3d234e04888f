"""Pure rules: data and `now` in, findings out. No I/O, no clock reads."""
