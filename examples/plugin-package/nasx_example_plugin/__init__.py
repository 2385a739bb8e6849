"""Example nasx plugin distribution."""
