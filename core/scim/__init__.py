"""SCIM's attribute paths and values as idsync's records hold them (pure): what the SCIM
provider reads and writes, and what the SCIM endpoint makes of the resources pushed to it."""
