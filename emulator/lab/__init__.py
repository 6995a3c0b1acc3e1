"""The field-failure lab: one local TLS endpoint per failure a module meets in the field."""
