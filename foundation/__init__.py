"""The foundation every layer may import: the data home and every path under it, the lake, the daily partitions,
the warehouse pool and money. It imports nothing else of the project."""
