"""EPMPulse: Oracle EPM Cloud close status for Slack."""

__version__ = "0.1.0"
