"""What the commands print: Rich tables and lines built from what the library returns, one module per
command that draws one (the commands parse and call; they do not lay out tables)."""
