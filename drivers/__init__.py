"""Device drivers: transports (SNMP, SSH), device classes and vendor profiles."""
