"""The foundation every layer may import: the data home and every path under it, the lake, the daily partitions,
the warehouse pool, money and the text of chain values. It imports nothing else of the project."""
