"""Text understanding for kefu: a plain library with no Django import.

Everything here works on strings and small data classes so it can be tested,
benchmarked and reused without a database.
"""
