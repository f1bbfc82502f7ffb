"""udap-onboard: UDAP / HL7 FAST Security onboarding wizard."""

__version__ = "0.1.0"
