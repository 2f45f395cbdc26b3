"""The close calendar (SPEC §11): periods, working days, deadlines and archives."""
