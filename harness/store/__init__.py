"""Result stores: one sample model; SQLite embedded by default; InfluxDB when configured."""
