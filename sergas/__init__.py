"""The pytest-free core of the Sergas checks."""
