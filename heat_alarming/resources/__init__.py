"""Heat resource plugins; the only package that imports Heat."""
