"""Transports carry bytes: SNMP (pysnmp) and SSH (paramiko). No device knowledge here."""
