"""Traffic measurement: tool argv builders and parsers (iperf3, irtt), statistics, test methods."""
