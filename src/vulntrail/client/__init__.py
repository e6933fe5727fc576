"""The CI import client: `vulntrail import` against vulntrail or any DefectDojo-compatible API.

Data flows one way: CI environment → import target (`ci_env`), credentials
(`credentials`, `vault`) → upload with retries (`upload`) → summary and gate
(`summary`, `gate`, `junit`). Only the CLI turns errors into exit codes.
"""
