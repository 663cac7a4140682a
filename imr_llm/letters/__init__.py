"""Reading a letter: load text or PDF bytes, normalize line breaks, recognise the layout."""
