"""An EWS server faithful enough that exchangelib cannot tell it from Exchange (issue #3)."""
