"""_telemetry"""
