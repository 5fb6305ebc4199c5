"""Revision 0001's tables by domain; ``versions/0001_initial_schema.py`` creates them parents first."""
