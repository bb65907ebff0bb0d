"""`make bench`: the figures operators size memory and cost from."""
