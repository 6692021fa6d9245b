"""Incidents: alerts grouped as they fire (`grouping`), read with their timeline (`read`, `timeline`), the
notes and messages people add (`log`), MTTA/MTTR (`stats`) and the postmortem draft (`postmortem`).

An alert row (`ops_alerts_history`) is older than incidents and is still called an incident in places
(`incident_id` of the outbox and the alert events); the incident that groups alerts is `ops_incidents`,
its alerts point to it with `group_id`.
"""
