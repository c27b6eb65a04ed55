"""field_sim: a simulated park of Modbus TCP field devices with injectable anomalies.

See README.md beside this file; ``parkwatch simulate`` is the command line.
"""
